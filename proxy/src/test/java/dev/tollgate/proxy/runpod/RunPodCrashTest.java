package dev.tollgate.proxy.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.simulator.runpod.RunPodSimulator;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.ChildTollgate;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Tollgate in a child JVM watches RunPod jobs and is killed with SIGKILL while they run; restarted on the same data
 * directory, it resumes watching them: each job that then completes is paid exactly its metered cost (start-up
 * recovery did not refund its hold as a request cut off by the stop), each job that failed is refunded, each hold
 * is closed, and every job is settled once. Jobs of a stream-budget account, whose reservations died with the
 * process, are paid from the payer's balance, once each.
 */
class RunPodCrashTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** 4 prompt + 8 completion tokens at 0.001 / 0.003 USDC: 28,000 micro-USDC. */
    private static final long COST = 28_000;


    @Test
    void aKilledTollgateResumesWatchingItsJobsAndSettlesEachOnce() throws Exception {
        Path dir = Files.createTempDirectory("tollgate-runpod-crash-");
        int port = ChildTollgate.freePort();
        int admin = ChildTollgate.freePort();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        try (RunPodSimulator sim = RunPodSimulator.start("127.0.0.1", 0, "rp-key", "sim-llm", null)) {
            Path config = dir.resolve("tollgate.yaml");
            Files.writeString(config, String.join("\n",
                    "listen: 127.0.0.1:" + port,
                    "admin: 127.0.0.1:" + admin,
                    "grpc: \"off\"",
                    "data_dir: " + dir.resolve("data"),
                    "upstreams:",
                    "  - {name: rp, kind: runpod, url: \"" + sim.origin() + "\", endpoint_id: ep1, api_key: rp-key, "
                            + "worker: ag_worker, poll_ms: 5}",
                    "api_keys:",
                    "  - {sha256: " + ApiKeys.hash("sk-crash") + ", account: ag_payer}",
                    "  - {sha256: " + ApiKeys.hash("sk-crash-sb") + ", account: ag_sb}",
                    "settlement:",
                    "  prices: {\"*\": {prompt_per_million: \"1000\", completion_per_million: \"3000\"}}",
                    "  accounts:",
                    "    ag_payer: {policy: per_request, fund: \"100.00\"}",
                    "    ag_sb: {policy: stream_budget, fund: \"100.00\", budget: \"2.00\", batch_calls: 3}",
                    ""));
            List<String[]> hanging = new ArrayList<>();
            List<String[]> failing = new ArrayList<>();
            // Stream-budget jobs: their reservations live in memory and die with the process.
            List<String[]> budgeted = new ArrayList<>();
            try (ChildTollgate child = ChildTollgate.start(config)) {
                for (int i = 0; i < 4; i++) {
                    hanging.add(submit(http, port, "hang"));
                    failing.add(i % 2 == 0 ? submit(http, port, "fail-after-restart") : null);
                }
                failing.removeIf(java.util.Objects::isNull);
                for (int i = 0; i < 2; i++) {
                    budgeted.add(submit(http, port, "hang", "sk-crash-sb"));
                }
                for (String[] j : concat(hanging, budgeted)) {
                    Await.until(() -> "IN_PROGRESS".equals(sim.status(j[1])), Duration.ofSeconds(20),
                            "job " + j[1] + " watched");
                }
                child.kill();
            }
            // While Tollgate is down, the jobs go on: the hanging ones complete.
            for (String[] j : concat(hanging, budgeted)) {
                sim.release(j[1]);
            }
            try (ChildTollgate child = ChildTollgate.start(config)) {
                for (String[] j : hanging) {
                    Await.until(() -> "settled".equals(settlementState(http, admin, j[0])), Duration.ofSeconds(30),
                            "job " + j[1] + " settled after the restart");
                }
                // Each of the 6 completed jobs pays the worker 28,000 less the 1% fee: the 2 stream-budget ones
                // from the payer's balance.
                Await.until(() -> workerBalance(http, admin) == 6 * (COST - COST / 100), Duration.ofSeconds(30),
                        "the worker paid for every completed job");
                child.stop();
            }
            try (Database db = Database.open(dir.resolve("data"))) {
                db.transaction(c -> {
                    for (String[] j : hanging) {
                        assertEquals(COST, one(c, "SELECT released FROM settlement WHERE request_id = ?", j[0]),
                                "job " + j[1] + " paid its metered cost");
                        assertEquals(1, one(c, "SELECT COUNT(*) FROM usage WHERE request_id = ?", j[0]));
                    }
                    for (String[] j : budgeted) {
                        assertEquals(1, one(c, "SELECT COUNT(*) FROM usage WHERE request_id = ?", j[0]));
                        assertEquals(COST, one(c, "SELECT SUM(target) FROM settle_op WHERE request_id = ? AND kind = "
                                + "'PAY' AND state = 'done'", j[0]), "job " + j[1] + " paid once from the balance");
                    }
                    for (String[] j : failing) {
                        assertEquals(0, one(c, "SELECT released FROM settlement WHERE request_id = ?", j[0]));
                    }
                    assertEquals(0, one(c, "SELECT COUNT(*) FROM escrow WHERE status = 'locked' AND payer = ?",
                            "ag_payer"), "holds left locked");
                    // The stream budget stays open for the account's next jobs; it paid none of the resumed ones.
                    assertEquals(0, one(c, "SELECT COALESCE(SUM(released), 0) FROM escrow WHERE payer = ?", "ag_sb"),
                            "stream-budget jobs paid twice");
                    assertEquals(0, one(c, "SELECT COUNT(*) FROM runpod_job WHERE state <> 'settled'", null),
                            "jobs left unsettled");
                    assertEquals(0, one(c, "SELECT COUNT(*) FROM escrow e JOIN settlement s ON s.escrow_id = e.id "
                            + "WHERE s.policy = 'per_request' AND e.released != s.released", null),
                            "escrows released other than their settlement");
                    return null;
                });
            }
        }
    }

    /** Submits a job; returns {request id, job id}. {@code fault} "fail-after-restart" is an ordinary failure. */
    private static String[] submit(HttpClient http, int port, String fault) throws Exception {
        return submit(http, port, fault, "sk-crash");
    }

    private static List<String[]> concat(List<String[]> a, List<String[]> b) {
        List<String[]> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    private static long workerBalance(HttpClient http, int admin) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin
                    + "/admin/v1/statement?agent=ag_worker")).build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? JSON.readTree(r.body()).path("balance_micros").asLong(-1) : -1;
        } catch (Exception e) {
            return -1;
        }
    }

    private static String[] submit(HttpClient http, int port, String fault, String key) throws Exception {
        String f = fault.equals("hang") ? "hang" : "fail";
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                        + "/v2/ep1/run")).header("authorization", "Bearer " + key)
                .POST(HttpRequest.BodyPublishers.ofString("{\"input\":{\"prompt\":\"one two three four\","
                        + "\"sampling_params\":{\"max_tokens\":8},\"sim_fault\":\"" + f + "\"}}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode b = JSON.readTree(r.body());
        return new String[] {r.headers().firstValue("x-tollgate-request-id").orElseThrow(), b.get("id").asText()};
    }

    private static String settlementState(HttpClient http, int admin, String requestId) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin
                    + "/admin/v1/requests/" + requestId)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                return null;
            }
            JsonNode s = JSON.readTree(r.body()).get("settlement");
            return s == null ? null : s.path("state").asText(null);
        } catch (Exception e) {
            return null;
        }
    }

    private static long one(java.sql.Connection c, String sql, String arg) throws java.sql.SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (arg != null) {
                ps.setString(1, arg);
            }
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next(), sql);
                return rs.getLong(1);
            }
        }
    }
}
