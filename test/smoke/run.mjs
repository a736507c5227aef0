// `node|deno|bun test/smoke/run.mjs`: import the package by its name, as a user would, and check it;
// then load an ONNX model by path (node:fs in all three, and the importer's lazily loaded chunk).
import * as eg from 'edgegrad';
import { check } from './check.mjs';

const report = await check(eg);
const mlp = await eg.loadModel('test/fixtures/mlp_tanh_sigmoid.onnx');
const y = mlp.predict(eg.ones([4, 784])).dataSync();
report.onnx = { rows: y.length / 10, rowSum: y.slice(0, 10).reduce((a, b) => a + b, 0) };
console.log(JSON.stringify(report));
if (!report.ok) throw new Error('edgegrad smoke check failed');
