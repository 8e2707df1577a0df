#!/usr/bin/env node
'use strict';
/*
 * Driver for the official RocketMQ 5.x Node.js client (npm rocketmq-client-nodejs 1.0.8,
 * gRPC), used by rocketq's interop tests (tests/interop/test_grpc_node.py).
 *
 * Output protocol (same as ons_client.js): one JSON object per line on stdout; logs on stderr
 * and in $HOME/logs/rocketmq/rocketmq_client_nodejs.log.  The last stdout line has "done".
 * Exit status: 0 = ok, 1 = client error, 2 = usage error, 3 = consume timed out.
 *
 *   node grpc_client.js produce --endpoints H:P --topic T --count N [--tag A] [--keys-prefix k]
 *   node grpc_client.js consume --endpoints H:P --topic T --group G --expect N [--tag E]
 *        [--timeout S] [--push]   (SimpleConsumer receive + ack; --push: a PushConsumer)
 */

const path = require('path');

const out = process.stdout;
console.log = (...args) => console.error(...args);

function emit(obj) {
  out.write(JSON.stringify(obj) + '\n');
}

let mq;
try {
  mq = require(path.join(__dirname, 'node_modules', 'rocketmq-client-nodejs'));
} catch (err) {
  process.stderr.write(`cannot load rocketmq-client-nodejs (${err.message}); ` +
    'run tests/interop/setup_clients.py\n');
  process.exit(1);
}

function parse(argv) {
  const [cmd, ...rest] = argv;
  if (cmd !== 'produce' && cmd !== 'consume') {
    process.stderr.write('usage: node grpc_client.js produce|consume --endpoints H:P --topic T ...\n');
    process.exit(2);
  }
  const args = { cmd, count: '10', tag: '', 'keys-prefix': '', expect: '0', timeout: '60', push: false };
  for (let i = 0; i < rest.length; i++) {
    const name = rest[i].replace(/^--/, '');
    if (name === 'push') {
      args.push = true;
    } else {
      args[name] = rest[++i];
    }
  }
  return args;
}

async function produce(args) {
  const producer = new mq.Producer({ endpoints: args.endpoints, namespace: '', topics: [ args.topic ] });
  await producer.startup();
  emit({ event: 'started' });
  let failed = 0;
  try {
    for (let i = 0; i < Number(args.count); i++) {
      const message = { topic: args.topic, body: Buffer.from(JSON.stringify({ i, src: 'node' })) };
      if (args.tag) message.tag = args.tag;
      if (args['keys-prefix']) message.keys = [ `${args['keys-prefix']}${i}` ];
      try {
        const receipt = await producer.send(message);
        emit({ i, status: 'OK', msg_id: receipt.messageId });
      } catch (err) {
        failed++;
        emit({ i, error: String(err) });
      }
    }
  } finally {
    await producer.shutdown();
  }
  emit({ done: failed === 0, failed });
  return failed === 0 ? 0 : 1;
}

function line(message, acked) {
  return {
    msg_id: message.messageId, topic: message.topic, tags: message.tag || '',
    keys: [ ...message.keys ].sort(), body: message.body.toString('utf-8'),
    delivery_attempt: message.deliveryAttempt, acked, corrupted: Boolean(message.corrupted),
  };
}

async function consumeSimple(args, seen) {
  const consumer = new mq.SimpleConsumer({
    endpoints: args.endpoints, namespace: '', consumerGroup: args.group,
    subscriptions: new Map().set(args.topic, args.tag || '*'), awaitDuration: 5000,
  });
  await consumer.startup();
  emit({ event: 'started' });
  const deadline = Date.now() + Number(args.timeout) * 1000;
  try {
    while (seen.size < Number(args.expect) && Date.now() < deadline) {
      for (const message of await consumer.receive(16, 30000)) {
        await consumer.ack(message);
        seen.add(message.messageId);
        emit(line(message, true));
      }
    }
  } finally {
    await consumer.shutdown();
  }
}

async function consumePush(args, seen) {
  let allIn;
  const done = new Promise(resolve => { allIn = resolve; });
  const consumer = new mq.PushConsumer({
    endpoints: args.endpoints, namespace: '', consumerGroup: args.group,
    subscriptions: new Map([[ args.topic, args.tag || '*' ]]),
    messageListener: {
      async consume(message) {
        seen.add(message.messageId);
        emit(line(message, true));
        if (seen.size >= Number(args.expect)) allIn();
        return mq.ConsumeResult.SUCCESS;
      },
    },
  });
  await consumer.startup();
  emit({ event: 'started' });
  const timeout = new Promise(resolve => setTimeout(resolve, Number(args.timeout) * 1000));
  try {
    await Promise.race([ done, timeout ]);
  } finally {
    await consumer.shutdown();
  }
}

async function consume(args) {
  const seen = new Set();
  const start = Date.now();
  await (args.push ? consumePush(args, seen) : consumeSimple(args, seen));
  const timedOut = seen.size < Number(args.expect);
  emit({ done: !timedOut, received: seen.size, expected: Number(args.expect), timed_out: timedOut,
    seconds: (Date.now() - start) / 1000 });
  return timedOut ? 3 : 0;
}

async function main() {
  const args = parse(process.argv.slice(2));
  try {
    return await (args.cmd === 'produce' ? produce(args) : consume(args));
  } catch (err) {
    emit({ done: false, error: `${err && err.name}: ${err && err.message}` });
    return 1;
  }
}

main().then(code => process.exit(code));
