#!/usr/bin/env node
// REFERENCE, not the product: a fast async client for the drain (bench/bench.py,
// measure 1): the minimal consumer's loop on Node.js amqplib 0.10: qos 1 (or
// PREFETCH), print both lines, ack each task alone in the callback.
//
//     node minimal_consumer.js URL QUEUE [PREFETCH]      (npm ci --prefix bench first)
//
// console.log writes each line at once (stdout to a file or a pipe is
// synchronous on Linux), so it shows line by line, as the Python consumers'.
const amqp = require("amqplib");

const [url, queue, prefetch = "1"] = process.argv.slice(2);

(async () => {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.prefetch(Number(prefetch));
  await channel.consume(queue, (message) => {
    console.log(` [x] Received '${message.content.toString()}'`);
    console.log(" [x] Done");
    channel.ack(message);
  });
  console.log(" [*] Waiting for messages. To exit press CTRL+C");
})();
