// `node|deno|bun test/smoke/run.mjs`: import the package by its name, as a user would, and check it.
import * as eg from 'edgegrad';
import { check } from './check.mjs';

const report = await check(eg);
console.log(JSON.stringify(report));
if (!report.ok) throw new Error('edgegrad smoke check failed');
