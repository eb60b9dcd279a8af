package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.simulator.SimulatorServer;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ChildTollgate;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * A long paid stream is cut off by a SIGKILL of the proxy. Its hold must not wait for expiry with the worker unpaid:
 * the stream's progress checkpoint (tokens served so far, journaled every two seconds) is what the next start
 * pays from the hold, and the rest is refunded at once.
 */
class CutOffStreamSettlementTest {

    @Test
    void aStreamCutOffByAKillPaysItsLastCheckpointAtTheNextStart() throws Exception {
        Path dir = Files.createTempDirectory("tollgate-cutoff-");
        Path data = dir.resolve("data");
        int port = ChildTollgate.freePort();
        int admin = ChildTollgate.freePort();
        // 25 tokens per second: the 400-token stream would take 16 s; it is killed after its first checkpoints.
        try (SimulatorServer sim = SimulatorServer.start(SimulatorConfig.defaults().withTokensPerSecond(25))) {
            Path config = dir.resolve("tollgate.yaml");
            Files.writeString(config, String.join("\n",
                    "listen: 127.0.0.1:" + port,
                    "admin: 127.0.0.1:" + admin,
                    "data_dir: " + data,
                    "upstreams:",
                    "  - {name: sim, url: \"" + sim.baseUrl() + "\", worker: ag_worker}",
                    "api_keys:",
                    "  - {sha256: " + dev.tollgate.proxy.http.ApiKeys.hash("sk-cut") + ", account: ag_payer}",
                    "settlement:",
                    // 0.001 USDC per prompt token, 0.003 per completion token.
                    "  prices: {\"*\": {prompt_per_million: \"1000\", completion_per_million: \"3000\"}}",
                    "  accounts:",
                    "    ag_payer: {policy: per_request, fund: \"100.00\"}",
                    ""));
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
            String requestId;
            long prompt;
            long completion;
            try (ChildTollgate child = ChildTollgate.start(config)) {
                String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"a long "
                        + "answer please\"}],\"max_tokens\":400,\"stream\":true}";
                CompletableFuture<HttpResponse<InputStream>> pending = http.sendAsync(HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                        .header("authorization", "Bearer sk-cut").header("content-type", "application/json")
                        .header("x-sim-completion-tokens", "400")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                        HttpResponse.BodyHandlers.ofInputStream());
                HttpResponse<InputStream> response = pending.get();
                requestId = response.headers().firstValue("x-tollgate-request-id").orElseThrow();
                InputStream stream = response.body();
                Thread reader = new Thread(() -> {
                    try (stream) {
                        stream.transferTo(java.io.OutputStream.nullOutputStream());
                    } catch (Exception e) {
                        // cut by the kill
                    }
                });
                reader.start();
                // Wait (reading the child's database as another process may) for a checkpoint with tokens in it.
                Await.until(() -> checkpointed(data, requestId) > 0, Duration.ofSeconds(30), "a progress checkpoint");
                child.kill();
                reader.join(10_000);
            }
            long[] progress = progress(data, requestId);
            prompt = progress[0];
            completion = progress[1];
            assertTrue(completion > 0 && completion < 400, "checkpointed " + completion + " of 400 tokens");
            try (ChildTollgate child = ChildTollgate.start(config)) {
                child.stop();
            }
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("tollgate.db"))) {
                long released = one(c, "SELECT released FROM escrow WHERE id = 'req-" + requestId + "'");
                long locked = one(c, "SELECT locked FROM escrow WHERE id = 'req-" + requestId + "'");
                long refunded = one(c, "SELECT refunded FROM escrow WHERE id = 'req-" + requestId + "'");
                assertEquals(prompt * 1_000 + completion * 3_000, released, "pays exactly the checkpointed tokens");
                assertEquals(locked - released, refunded, "refunds the rest");
                assertEquals(0, one(c, "SELECT COUNT(*) FROM escrow WHERE status = 'locked'"));
                assertEquals(0, one(c, "SELECT COUNT(*) FROM progress"));
            }
        }
    }

    private static long checkpointed(Path data, String requestId) {
        try {
            return progress(data, requestId)[1];
        } catch (Exception e) {
            return -1; // not created yet
        }
    }

    private static long[] progress(Path data, String requestId) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("tollgate.db"));
             PreparedStatement ps = c.prepareStatement("SELECT prompt, completion FROM progress WHERE request_id = ?")) {
            ps.setString(1, requestId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new long[] {rs.getLong(1), rs.getLong(2)} : new long[] {-1, -1};
            }
        }
    }

    private static long one(Connection c, String sql) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : 0;
        }
    }
}
