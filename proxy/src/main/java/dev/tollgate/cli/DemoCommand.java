package dev.tollgate.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.proxy.TollgateNode;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.simulator.SimulatorServer;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tollgate demo}: the simulator and the proxy in one process on free ports, a short workload through
 * the OpenAI HTTP API, and a per-request table read back from Tollgate's own records.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run the simulator and the proxy on free loopback ports, send a short workload through the "
                + "OpenAI API (streaming and not, with and without usage, failures), and print what was metered.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--data", paramLabel = "DIR", description = "Data directory (default: a fresh temporary one).")
    Path data;

    @Option(names = "--ttft-ms", defaultValue = "40", description = "Simulated time to first token (default ${DEFAULT-VALUE}).")
    long ttftMillis;

    @Option(names = "--tokens-per-second", defaultValue = "400",
            description = "Simulated generation rate (default ${DEFAULT-VALUE}).")
    long tokensPerSecond;

    static final String ORCHESTRATOR = "ag_orchestrator";
    static final String ORCHESTRATOR_KEY = "sk-demo-orchestrator";
    static final String BROKE = "ag_broke";
    static final String BROKE_KEY = "sk-demo-broke";
    static final String WORKER = "ag_worker_sim";
    static final String RUNPOD_WORKER = "ag_worker_runpod";
    static final String RUNPOD_ENDPOINT = "demo-endpoint";

    /** One request of the workload. */
    record Step(String label, String path, String body, String fault, String key) {
        Step(String label, String path, String body, String fault) {
            this(label, path, body, fault, ORCHESTRATOR_KEY);
        }
    }

    static List<Step> workload(String model) {
        String chat = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Explain back-pressure in one paragraph.\"}],\"max_tokens\":%d%s}";
        List<Step> steps = new ArrayList<>();
        steps.add(new Step("chat", "/v1/chat/completions", String.format(chat, 24, ""), null));
        steps.add(new Step("chat stream", "/v1/chat/completions", String.format(chat, 48, ",\"stream\":true"), null));
        steps.add(new Step("chat stream+usage", "/v1/chat/completions",
                String.format(chat, 48, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"), null));
        steps.add(new Step("chat stream n=2", "/v1/chat/completions", String.format(chat, 16, ",\"stream\":true,\"n\":2"),
                null));
        steps.add(new Step("completion stream", "/v1/completions", "{\"model\":\"" + model
                + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":32,\"stream\":true}", null));
        steps.add(new Step("embedding", "/v1/embeddings", "{\"model\":\"" + model
                + "\",\"input\":[\"metering proxy\",\"escrow settlement\"]}", null));
        steps.add(new Step("upstream 503", "/v1/chat/completions", String.format(chat, 24, ",\"stream\":true"),
                "status:503"));
        steps.add(new Step("error mid-stream", "/v1/chat/completions", String.format(chat, 64, ",\"stream\":true"),
                "error-after:5"));
        steps.add(new Step("payer out of funds", "/v1/chat/completions", String.format(chat, 24, ""), null, BROKE_KEY));
        return steps;
    }

    /** RunPod jobs through the native queue API: one waited for, one streamed that its client never polls. */
    static List<Step> runpodJobs() {
        String base = "/v2/" + RUNPOD_ENDPOINT;
        return List.of(
                new Step("runpod runsync", base + "/runsync", "{\"input\":{\"prompt\":\"Explain escrow in one "
                        + "line.\",\"sampling_params\":{\"max_tokens\":24}}}", null),
                new Step("runpod run, no poll", base + "/run", "{\"input\":{\"prompt\":\"Stream a haiku.\","
                        + "\"stream\":true,\"sampling_params\":{\"max_tokens\":32,\"stream_options\":"
                        + "{\"include_usage\":true}}}}", null),
                new Step("runpod job fails", base + "/run", "{\"input\":{\"prompt\":\"Fail.\",\"sim_fault\":"
                        + "\"fail\",\"sampling_params\":{\"max_tokens\":16}}}", null));
    }

    /** Settlement for the demo: both accounts pay per request; prices are per million tokens. */
    static JsonNode settlement() {
        ObjectMapper m = new ObjectMapper();
        ObjectNode s = m.createObjectNode();
        s.putObject("prices").putObject("*").put("prompt_per_million", "20.00").put("completion_per_million", "60.00");
        ObjectNode accounts = s.putObject("accounts");
        ObjectNode orch = accounts.putObject(ORCHESTRATOR).put("policy", "per_request").put("fund", "5.00")
                .put("referrer", "ag_referrer");
        orch.putObject("throughput_bonus").put("min_tokens_per_second", "100").put("pct", 5);
        accounts.putObject(BROKE).put("policy", "per_request").put("fund", "0.05");
        return s;
    }

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        Path dir = data != null ? data : Files.createTempDirectory("tollgate-demo-");
        SimulatorConfig simCfg = SimulatorConfig.defaults().withTtftMillis(ttftMillis).withTokensPerSecond(tokensPerSecond);
        try (SimulatorServer sim = SimulatorServer.start(simCfg);
             var runpod = dev.tollgate.simulator.runpod.RunPodSimulator.start("127.0.0.1", 0, null, simCfg.model(),
                     null);
             TollgateNode node = TollgateNode.start(ProxyConfig.empty().withListen("127.0.0.1:0")
                     .withAdmin("127.0.0.1:0").withGrpc("127.0.0.1:0").withDataDir(dir.toString())
                     .withUpstreams(List.of(new UpstreamConfig("simulator", sim.baseUrl(), null, null, true,
                             WORKER), new UpstreamConfig("runpod-sim", runpod.origin(), null, null, null,
                             RUNPOD_WORKER, "runpod", RUNPOD_ENDPOINT, 50)))
                     .withApiKeys(List.of(new ApiKeyConfig(ApiKeys.hash(ORCHESTRATOR_KEY), ORCHESTRATOR),
                             new ApiKeyConfig(ApiKeys.hash(BROKE_KEY), BROKE)))
                     .withSettlement(settlement()))) {
            out.println("simulator  " + sim.baseUrl());
            out.println("runpod     " + runpod.origin() + "/v2/" + RUNPOD_ENDPOINT + "   (simulated serverless "
                    + "endpoint)");
            out.println("tollgate   " + node.baseUrl() + "   (admin " + node.adminUrl() + ")");
            out.println();
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            List<String> ids = new ArrayList<>();
            List<Step> steps = new ArrayList<>(workload(simCfg.model()));
            steps.addAll(runpodJobs());
            for (Step s : steps) {
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.baseUrl().replace("/v1", "") + s.path()))
                        .timeout(Duration.ofSeconds(30))
                        .header("content-type", "application/json")
                        .header("authorization", "Bearer " + s.key())
                        .POST(HttpRequest.BodyPublishers.ofString(s.body()));
                if (s.fault() != null) {
                    b.header("x-sim-fault", s.fault());
                }
                HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
                ids.add(r.headers().firstValue("x-tollgate-request-id").orElse("?"));
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            List<UsageRecord> records = new ArrayList<>();
            for (String id : ids) {
                UsageRecord rec;
                while ((rec = node.metering().find(id)) == null && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                records.add(rec);
            }
            printTable(out, steps, records);
            SettlementService settlement = node.settlement();
            while (settlement.unfinishedOperations() > 0 && System.nanoTime() < deadline) {
                settlement.settleNow();
            }
            out.println();
            printSettlements(out, steps, ids, settlement);
            out.println();
            boolean conserved = StatementPrinter.print(out, settlement, List.of(ORCHESTRATOR, BROKE, WORKER, RUNPOD_WORKER,
                    "ag_referrer"));
            out.println();
            out.println("data directory: " + dir + "  (./tollgate ledger statement --data " + dir + ")");
            return records.stream().allMatch(r -> r != null) && conserved ? 0 : 1;
        }
    }

    static void printSettlements(PrintStream out, List<Step> steps, List<String> ids, SettlementService settlement) {
        String fmt = "%-20s %-10s %12s %12s %12s %12s%n";
        out.printf(fmt, "settlement (USDC)", "state", "locked", "released", "refunded", "bonus");
        for (int i = 0; i < steps.size(); i++) {
            var v = settlement.settlement(ids.get(i)).orElse(null);
            if (v == null) {
                continue;
            }
            out.printf(fmt, steps.get(i).label(), v.state(), Micros.format(v.reservedMicros()),
                    Micros.format(v.releasedMicros()), Micros.format(v.refundedMicros()), Micros.format(v.bonusMicros()));
        }
    }

    static void printTable(PrintStream out, List<Step> steps, List<UsageRecord> records) {
        String fmt = "%-20s %-8s %7s %7s %-9s %8s %8s %-20s%n";
        out.printf(fmt, "request", "status", "prompt", "compl", "usage", "ttft_ms", "tok/s", "outcome");
        out.printf(fmt, "-".repeat(20), "-".repeat(8), "-".repeat(7), "-".repeat(7), "-".repeat(9), "-".repeat(8),
                "-".repeat(8), "-".repeat(20));
        for (int i = 0; i < steps.size(); i++) {
            UsageRecord r = records.get(i);
            if (r == null) {
                out.printf("%-20s (no usage record)%n", steps.get(i).label());
                continue;
            }
            long mtps = r.milliTokensPerSecond();
            out.printf(fmt, steps.get(i).label(), r.httpStatus(), r.promptTokens(), r.completionTokens(),
                    r.usageSource().wireName(),
                    r.ttftNanos() < 0 ? "-" : String.valueOf(r.ttftNanos() / 1_000_000),
                    mtps < 0 ? "-" : String.valueOf(mtps / 1000), r.outcome().wireName());
        }
    }
}
