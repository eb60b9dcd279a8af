package dev.tollgate.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.proxy.TollgateNode;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.runpod.RunPodSimulator;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The RunPod simulator and a Tollgate node with a {@code kind: runpod} upstream in front of it (endpoint
 * {@value #ENDPOINT}, Tollgate's own polls every 5 ms), the paid accounts of {@link PaidSetup}, on loopback ports.
 */
public final class RunPodFixture implements AutoCloseable {
    public static final String ENDPOINT = "ep-sim";
    public static final String RUNPOD_KEY = "rp-secret";
    private static final ObjectMapper JSON = new ObjectMapper();

    public final RunPodSimulator runpod;
    public final Path dataDir;
    public TollgateNode node;
    private final UnaryOperator<ProxyConfig> tweak;
    public final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private RunPodFixture(RunPodSimulator runpod, Path dataDir, UnaryOperator<ProxyConfig> tweak) {
        this.runpod = runpod;
        this.dataDir = dataDir;
        this.tweak = tweak;
    }

    /** {@code tweak} changes the config after {@link PaidSetup#apply} (e.g. account job terms). */
    public static RunPodFixture start(UnaryOperator<ProxyConfig> tweak) throws Exception {
        RunPodSimulator sim = RunPodSimulator.start("127.0.0.1", 0, RUNPOD_KEY, "sim-llm", null);
        RunPodFixture fx = new RunPodFixture(sim, Files.createTempDirectory("tollgate-runpod-"), tweak);
        try {
            fx.startNode();
        } catch (Exception | Error e) {
            sim.close();
            throw e;
        }
        return fx;
    }

    /** Starts (or starts again, after {@link #stopNode}) the node on the same data directory. */
    public void startNode() throws InterruptedException {
        ProxyConfig cfg = ProxyConfig.empty().withListen("127.0.0.1:0").withAdmin("127.0.0.1:0")
                .withDataDir(dataDir.toString())
                .withUpstreams(List.of(new UpstreamConfig("runpod-sim", runpod.origin(), RUNPOD_KEY, null, null,
                        PaidSetup.WORKER, "runpod", ENDPOINT, 5)));
        node = TollgateNode.start(tweak.apply(PaidSetup.apply(cfg)));
    }

    public void stopNode() {
        NodeShutdown.closeChecked(node);
    }

    /** The settlement section of {@code c}, to add job terms to. */
    public static ObjectNode accounts(ProxyConfig c) {
        return (ObjectNode) c.settlement().get("accounts");
    }

    public String origin() {
        return "http://127.0.0.1:" + node.proxyPort();
    }

    /** {@code POST /v2/<endpoint>/<tail>} with Tollgate key {@code key}. */
    public HttpResponse<String> post(String tail, String json, String key, String... headers)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(origin() + "/v2/" + ENDPOINT + "/" + tail))
                .timeout(Duration.ofSeconds(30)).header("content-type", "application/json")
                .header("authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofString(json));
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    public HttpResponse<String> get(String tail, String key) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(origin() + "/v2/" + ENDPOINT + "/" + tail))
                .timeout(Duration.ofSeconds(30)).header("authorization", "Bearer " + key).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    public static JsonNode json(HttpResponse<String> r) throws IOException {
        return JSON.readTree(r.body());
    }

    public static String requestId(HttpResponse<?> r) {
        return r.headers().firstValue("x-tollgate-request-id").orElseThrow();
    }

    /** A request's settlement once it is in a final state (settled or refunded). */
    public SettlementView settled(String requestId) {
        return Await.value(() -> node.settlement().settlement(requestId)
                .filter(v -> v.state().equals("settled") || v.state().equals("refunded")).orElse(null),
                Duration.ofSeconds(10), "settlement of " + requestId);
    }

    @Override
    public void close() {
        try {
            NodeShutdown.closeChecked(node);
        } finally {
            runpod.close();
        }
    }
}
