// RunPod's official JavaScript SDK (runpod-sdk), unchanged, pointed at Tollgate instead of api.runpod.ai:
// node check.mjs <baseUrl ending in /v2> <tollgate key> <endpoint id>. Prints one JSON line of what it saw.
import runpodSdk from "runpod-sdk";

const [baseUrl, apiKey, endpointId] = process.argv.slice(2);
const endpoint = runpodSdk(apiKey, { baseUrl }).endpoint(endpointId);
const input = { prompt: "one two three four", sampling_params: { max_tokens: 8 } };
const out = {};

const sync = await endpoint.runSync({ input });
out.runSync = { status: sync.status, output: sync.output, completed: sync.completed };

// The worker is still busy when /runsync returns: the SDK polls /status-sync.
const slow = await endpoint.runSync({ input: { ...input, sim_fault: "slow" } });
out.runSyncSlow = { status: slow.status, completed: slow.completed };

const started = await endpoint.run({ input: { ...input, stream: true } });
let text = "";
for await (const chunk of endpoint.stream(started.id)) {
  text += chunk.output;
}
let status;
do {
  status = await endpoint.status(started.id);
} while (!status.completed);
out.stream = { started: started.status, text, status: status.status };

const hanging = await endpoint.run({ input: { ...input, sim_fault: "hang" } });
const cancelled = await endpoint.cancel(hanging.id);
out.cancel = { status: cancelled.status };

const health = await endpoint.health();
out.health = { hasJobs: typeof health.jobs === "object" };

console.log(JSON.stringify(out));
