// The app's data layer: a lookup two calls deep, so the stack trace has app frames
// below the route handler and library frames (Express) above it.
'use strict';

const ORDERS = new Map([['1', { id: '1', total: 12.5 }]]);

function readOrder(id) {
  const order = ORDERS.get(id);
  if (order === undefined) {
    throw new Error(`order ${id} not found`);
  }
  return order;
}

function loadOrder(id) {
  return { ...readOrder(id), loadedAt: Date.now() };
}

module.exports = { loadOrder };
