package dev.tollgate.testing;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the crash tests share: the configuration of a proxy in a child JVM in front of the simulator (one payer,
 * key {@code sk-crash}, 0.001 USDC per prompt token and 0.003 per completion token), a client sending streamed chat
 * requests until told to stop, and the questions asked of the proxy and its database afterwards.
 *
 * <p>Threading: {@link #streams} on each client thread; the rest on the test's thread.
 */
public final class CrashLoad {
    private CrashLoad() {
    }

    /** The proxy's configuration: {@code account} is the payer's line under {@code settlement.accounts}. */
    public static String config(int port, int admin, Path dataDir, String simulatorUrl, String account) {
        return String.join("\n",
                "listen: 127.0.0.1:" + port,
                "admin: 127.0.0.1:" + admin,
                "grpc: \"off\"",
                "data_dir: " + dataDir,
                "upstreams:",
                "  - {name: sim, url: \"" + simulatorUrl + "\", worker: ag_worker}",
                "api_keys:",
                "  - {sha256: " + dev.tollgate.proxy.http.ApiKeys.hash("sk-crash") + ", account: ag_payer}",
                "settlement:",
                "  prices: {\"*\": {prompt_per_million: \"1000\", completion_per_million: \"3000\"}}",
                "  accounts:",
                "    " + account,
                "");
    }

    /**
     * Sends streamed chat requests (up to 40 completion tokens, each prompt unique by {@code label}, {@code seed} and
     * a counter) one after another while {@code running}; adds the request id of each stream received in full (200,
     * ending with {@code [DONE]}) to {@code completed}, counts the others that failed in {@code failures}.
     */
    public static void streams(HttpClient http, int port, String label, int seed, AtomicBoolean running,
                               Set<String> completed, AtomicInteger failures) {
        int i = 0;
        while (running.get()) {
            String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + label + " "
                    + seed + " " + (i++) + "\"}],\"max_tokens\":40,\"stream\":true}";
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                        .timeout(Duration.ofSeconds(10)).header("authorization", "Bearer sk-crash")
                        .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200 && r.body().endsWith("data: [DONE]\n\n")) {
                    completed.add(r.headers().firstValue("x-tollgate-request-id").orElseThrow());
                }
            } catch (Exception e) {
                failures.incrementAndGet();
                if (!running.get()) {
                    return;
                }
            }
        }
    }

    /** The settlement operations the proxy still has pending, from its metrics; -1 while it does not answer. */
    public static long pendingOps(HttpClient http, int admin) {
        try {
            String m = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            for (String line : m.split("\n")) {
                if (line.startsWith("tollgate_settlement_operations_pending ")) {
                    return Long.parseLong(line.substring(line.indexOf(' ') + 1).trim());
                }
            }
        } catch (Exception e) {
            // not up yet
        }
        return -1;
    }

    /** The first column of the first row of {@code sql}, or 0. */
    public static long one(Connection c, String sql) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : 0;
        }
    }
}
