// Reports people look at: training curves, the confusion matrix and the accuracy-vs-labels curve as one
// self-contained HTML page (eg.report.html), from the numbers fit and evaluate give.
export { trainingReport, type ReportData, type LabelsPoint } from './html.js';
export { lineChart, chartPoints, toPixel, ticks, type Series, type ChartFrame, type LineChartOptions } from './svg.js';
export { confusionMatrix, confusionCounts, confusionTable } from './confusion.js';
export { escapeXml } from './escape.js';
