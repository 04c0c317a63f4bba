// A tiny Express service. GET /orders/:id fails for unknown ids inside lib/orders.js; Express
// answers 500 and the OpenTelemetry Express instrumentation records the exception on the
// request handler's span (with `http.route` /orders/:id).
'use strict';

const express = require('express');
const { loadOrder } = require('./lib/orders');

const app = express();

app.get('/health', (req, res) => {
  res.json({ ok: true });
});

app.get('/orders/:id', (req, res) => {
  res.json(loadOrder(req.params.id));
});

// Express's four-argument error handler: the client gets no stack trace.
app.use((err, req, res, next) => {
  res.status(500).json({ error: 'internal error' });
});

const port = Number(process.env.PORT || 3000);
app.listen(port, '127.0.0.1', () => {
  console.log(`node-app listening on http://127.0.0.1:${port}`);
});
