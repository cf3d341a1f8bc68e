// The seed's React components (OrderMonitor, KasirCounter,
// KitchenDisplay) run unchanged as plain functions: their useEffect bodies
// are copied verbatim, with `io('http://localhost:5000')` pointed at posd
// running with --auth=off (the seed's clients send no token). A tiny hooks
// harness stands in for React; the components must end in the right state.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { barrier, io as realIo, orderBody, record, startServer, waitFor } from './helpers.js';

// harness runs a component once with useState/useEffect and keeps what it
// created: its state cells, the sockets it opened and its cleanups.
function harness(url, sideEffects) {
  const cells = [];
  const sockets = [];
  const cleanups = [];
  const hooks = {
    useState(initial) {
      const cell = { value: initial };
      cells.push(cell);
      return [cell.value, (v) => { cell.value = typeof v === 'function' ? v(cell.value) : v; }];
    },
    useEffect(effect) {
      const cleanup = effect();
      if (typeof cleanup === 'function') cleanups.push(cleanup);
    },
    // The seed calls io('http://localhost:5000'); the harness swaps the host.
    io(seedUrl) {
      assert.equal(seedUrl, 'http://localhost:5000');
      const socket = realIo(url, { forceNew: true });
      sockets.push(socket);
      return socket;
    },
  };
  return {
    hooks,
    sideEffects,
    cells,
    sockets,
    unmount: () => cleanups.forEach((c) => c()),
  };
}

// ---- The seed's components, minus their JSX. ----

function OrderMonitor({ tenantId }, { useState, useEffect, io }, { playSound }) {
  const [orders, setOrders] = useState([]);

  useEffect(() => {
    const socket = io('http://localhost:5000');

    // Join tenant room
    socket.emit('join-tenant', tenantId);

    // Listen for new orders
    socket.on('order:created', (notification) => {
      setOrders(prev => [...prev, notification.data]);

      // Play notification sound
      playSound('/sounds/order-created.mp3');
    });

    // Listen for status changes
    socket.on('order:status_changed', (notification) => {
      const { order_id, new_status } = notification.data;
      setOrders(prev =>
        prev.map(o =>
          o.order_id === order_id ? { ...o, status: new_status } : o
        )
      );
    });

    return () => socket.disconnect();
  }, [tenantId]);
}

function KasirCounter({ counterId }, { useState, useEffect, io }, { printReceipt, showErrorAlert }) {
  const [payment, setPayment] = useState(null);

  useEffect(() => {
    const socket = io('http://localhost:5000');

    // Join counter and user rooms
    socket.emit('join-kasir', counterId);

    // Listen for payment notifications
    socket.on('payment:processed', (notification) => {
      setPayment(notification.data);

      // Show receipt
      printReceipt(notification.data);
    });

    // Listen for alerts
    socket.on('alert', (alert) => {
      if (alert.severity === 'error') {
        showErrorAlert(alert.message);
      }
    });

    return () => socket.disconnect();
  }, [counterId]);
}

// What KasirCounter renders from its state.
function kasirView(payment) {
  return payment && [
    `Transaction: ${payment.transaction_reference}`,
    `Amount: Rp ${payment.amount_paid.toLocaleString('id-ID')}`,
  ];
}

function KitchenDisplay(_props, { useState, useEffect, io }) {
  const [activeOrders, setActiveOrders] = useState([]);

  useEffect(() => {
    const socket = io('http://localhost:5000');

    // Join display monitor room
    socket.emit('join-display');

    // Listen for all order events
    socket.on('order:created', (notification) => {
      setActiveOrders(prev => [...prev, notification.data]);
    });

    socket.on('order:status_changed', (notification) => {
      const { order_id, status } = notification.data;
      if (status === 'completed') {
        // Remove completed orders
        setActiveOrders(prev => prev.filter(o => o.order_id !== order_id));
      }
    });

    socket.on('order:cancelled', (notification) => {
      const { order_id } = notification.data;
      setActiveOrders(prev => prev.filter(o => o.order_id !== order_id));
    });

    return () => socket.disconnect();
  }, []);
}

function mount(Component, props, url, sideEffects = {}) {
  const h = harness(url, sideEffects);
  Component(props, h.hooks, sideEffects);
  return h;
}

describe("the seed's React components, unchanged", () => {
  let server;
  before(async () => {
    server = await startServer({ authOff: true });
    await server.api('POST', '/api/tenants', { name: 'Warung Satu', code: 'T1' });
    await server.api('POST', '/api/tenants', { name: 'Warung Dua', code: 'T2' });
    await server.api('POST', '/api/counters', { name: 'Kasir A' });
    await server.api('POST', '/api/counters', { name: 'Kasir B' });
  });
  after(async () => { await server.stop(); });

  test('OrderMonitor, KasirCounter and KitchenDisplay end in the right state', async () => {
    const sounds = [];
    const receipts = [];
    const errorAlerts = [];
    const monitor1 = mount(OrderMonitor, { tenantId: 1 }, server.url, { playSound: (s) => sounds.push(s) });
    const monitor2 = mount(OrderMonitor, { tenantId: '2' }, server.url, { playSound: () => {} });
    const kasir = mount(KasirCounter, { counterId: 1 }, server.url, {
      printReceipt: (d) => receipts.push(d.transaction_reference),
      showErrorAlert: (m) => errorAlerts.push(m),
    });
    const kitchen = mount(KitchenDisplay, {}, server.url);
    const all = [monitor1, monitor2, kasir, kitchen];
    const recorders = all.map((h) => record(h.sockets[0]));
    try {
      // The components' joins are fire-and-forget; wait until the hub has them.
      const size = async (room) => (await server.api('GET', `/api/rooms/${room}`)).clients;
      await waitFor(() => all.every((h) => h.sockets[0].connected), 'components connected');
      for (const room of ['tenant-1', 'tenant-2', 'kasir-1', 'display']) {
        let n = 0;
        while ((n = await size(room)) < 1) await new Promise((r) => setTimeout(r, 20));
        assert.equal(n, 1, room);
      }

      const a = await server.api('POST', '/api/orders', orderBody(1, 'John Doe', 2));
      const b = await server.api('POST', '/api/orders', orderBody(1, 'Jane Roe', 1));
      const c = await server.api('POST', '/api/orders', orderBody(2, 'Siti', 3));
      for (const status of ['preparing', 'ready', 'completed']) {
        await server.api('PATCH', `/api/orders/${a.id}/status`, { status });
      }
      await server.api('PATCH', `/api/orders/${b.id}/status`, { status: 'preparing' });
      await server.api('DELETE', `/api/orders/${b.id}`, { reason: 'Out of stock' });
      const payA = await server.api('POST', '/api/payments', { order_id: a.id, amount_paid: 60000, payment_method: 'cash', counter_id: 1 });
      await server.api('POST', '/api/payments', { order_id: c.id, amount_paid: c.total_amount, payment_method: 'qris', counter_id: 2 });
      await server.api('POST', '/api/alerts', { severity: 'info', message: 'Shift change at 17:00' });
      await server.api('POST', '/api/alerts', { severity: 'error', message: 'Receipt printer offline' });
      await barrier(server, recorders);

      // OrderMonitor(1): both tenant-1 orders, statuses followed.
      const [orders1] = monitor1.cells;
      assert.deepEqual(orders1.value.map((o) => [o.order_number, o.status]), [['T1-001', 'completed'], ['T1-002', 'preparing']]);
      assert.deepEqual(orders1.value[0], {
        order_id: a.id, order_number: 'T1-001', customer_name: 'John Doe',
        total_amount: 55000, items_count: 3, status: 'completed',
      });
      assert.deepEqual(sounds, ['/sounds/order-created.mp3', '/sounds/order-created.mp3']);
      // OrderMonitor('2'): joined with a numeric string; only its order.
      assert.deepEqual(monitor2.cells[0].value.map((o) => [o.order_number, o.status]), [['T2-001', 'pending']]);

      // KasirCounter(1): its counter's payment only; the error alert shown.
      const [payment] = kasir.cells;
      assert.equal(payment.value.payment_id, payA.id);
      assert.equal(payment.value.change, 5000);
      assert.deepEqual(receipts, [payA.transaction_reference]);
      assert.deepEqual(kasirView(payment.value), [`Transaction: ${payA.transaction_reference}`, 'Amount: Rp 60.000']);
      assert.deepEqual(errorAlerts, ['Receipt printer offline']);

      // KitchenDisplay: every tenant's orders; the cancelled one removed.
      // The seed reads `status` from order:status_changed, whose data has
      // `new_status` (docs/protocol.md, Events), so it never removes completed orders; posd
      // sends the seed's envelope exactly, so the component behaves as it
      // did against the Node server.
      const [active] = kitchen.cells;
      assert.deepEqual(active.value.map((o) => o.order_number), ['T1-001', 'T2-001']);
    } finally {
      all.forEach((h) => h.unmount());
    }
    await waitFor(() => all.every((h) => h.sockets[0].disconnected), 'components unmounted');
  });
});
