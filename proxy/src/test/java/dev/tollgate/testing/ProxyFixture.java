package dev.tollgate.testing;

import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.TollgateNode;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.simulator.SimulatorServer;
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

/** A simulator and a Tollgate node in front of it, on loopback ports, for one test class. */
public final class ProxyFixture implements AutoCloseable {
    public final SimulatorServer simulator;
    public final TollgateNode node;
    public final Path dataDir;
    public final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private ProxyFixture(SimulatorServer simulator, TollgateNode node, Path dataDir) {
        this.simulator = simulator;
        this.node = node;
        this.dataDir = dataDir;
    }

    public static ProxyFixture start() throws Exception {
        return start(SimulatorConfig.defaults(), c -> c);
    }

    public static ProxyFixture start(SimulatorConfig sim, UnaryOperator<ProxyConfig> tweak) throws Exception {
        SimulatorServer simulator = SimulatorServer.start(sim);
        Path dir = Files.createTempDirectory("tollgate-test-");
        ProxyConfig cfg = ProxyConfig.empty().withListen("127.0.0.1:0").withAdmin("127.0.0.1:0").withGrpc("127.0.0.1:0")
                .withDataDir(dir.toString())
                .withUpstreams(List.of(new UpstreamConfig("sim", simulator.baseUrl(), null, null, true, "worker-1")));
        try {
            return new ProxyFixture(simulator, TollgateNode.start(tweak.apply(cfg)), dir);
        } catch (Exception | Error e) {
            simulator.close();
            throw e;
        }
    }

    /** Base URL of the proxy without {@code /v1}. */
    public String proxyOrigin() {
        return node.baseUrl().substring(0, node.baseUrl().length() - 3);
    }

    public String simulatorOrigin() {
        return simulator.baseUrl().substring(0, simulator.baseUrl().length() - 3);
    }

    public HttpResponse<byte[]> post(String origin, String path, String json, String... headers)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(origin + path))
                .timeout(Duration.ofSeconds(30))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json));
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    public HttpResponse<String> get(String url, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).GET();
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The usage record of a request, once the metering thread has it. */
    public UsageRecord record(String requestId) {
        return Await.value(() -> node.metering().find(requestId), Duration.ofSeconds(10),
                "usage record " + requestId);
    }

    /**
     * Stops both; fails the test if any database transaction or tokenizer call ran on one of the proxy's event
     * loops while it ran (every test using the fixture checks this).
     */
    @Override
    public void close() {
        try {
            NodeShutdown.closeChecked(node);
        } finally {
            simulator.close();
        }
    }
}
