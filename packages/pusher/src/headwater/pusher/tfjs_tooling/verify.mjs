// Runs a TensorFlow.js graph model in Node with the pure-JS @tensorflow/tfjs (CPU backend).
//
// Usage: node verify.mjs MODEL_DIR FEEDS_JSON OUTPUTS_JSON
// FEEDS_JSON: {"inputs": {signature input name: {"dtype", "shape", "data" (flat)}}}
// OUTPUTS_JSON (written): {signature output name: {"shape", "data" (flat)}}
// The model is read from MODEL_DIR/model.json and its weight shards (no network, no tfjs-node).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";

async function main() {
  const [modelDir, feedsPath, outputsPath] = process.argv.slice(2);
  await tf.setBackend("cpu");
  const modelJson = JSON.parse(readFileSync(join(modelDir, "model.json"), "utf8"));
  const weightSpecs = [];
  const buffers = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const path of group.paths) buffers.push(readFileSync(join(modelDir, path)));
  }
  const joined = Buffer.concat(buffers);
  const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs,
      weightData,
      format: modelJson.format,
      generatedBy: modelJson.generatedBy,
      convertedBy: modelJson.convertedBy,
      signature: modelJson.signature,
      userDefinedMetadata: modelJson.userDefinedMetadata,
    }),
  );
  const feeds = JSON.parse(readFileSync(feedsPath, "utf8")).inputs;
  const signature = modelJson.signature || {};
  const inputs = {};
  for (const [key, feed] of Object.entries(feeds)) {
    const node = signature.inputs && signature.inputs[key] ? signature.inputs[key].name : key;
    inputs[node.replace(/:0$/, "")] = tf.tensor(feed.data, feed.shape, feed.dtype);
  }
  const keys = Object.keys(signature.outputs || {}).sort();
  const nodes = keys.map((key) => signature.outputs[key].name.replace(/:0$/, ""));
  let results = await model.executeAsync(inputs, nodes);
  if (!Array.isArray(results)) results = [results];
  const out = {};
  keys.forEach((key, i) => {
    out[key] = { shape: results[i].shape, data: Array.from(results[i].dataSync()) };
  });
  writeFileSync(outputsPath, JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`tfjs verification failed: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
