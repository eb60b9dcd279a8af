package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import java.io.File;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The admin listener: request lookup, usage totals, Prometheus metrics, health, and the admin token. */
class AdminApiTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOKEN = "admin-secret";
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c.withAdminToken(TOKEN));
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private String admin(String path) {
        return fx.node.adminUrl() + path;
    }

    private String streamOnce() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"count me\"}],"
                        + "\"max_tokens\":11,\"stream\":true}");
        assertEquals(200, r.statusCode());
        String id = r.headers().firstValue("x-tollgate-request-id").orElseThrow();
        fx.record(id);
        return id;
    }

    @Test
    void requestLookupHasTheDocumentedFields() throws Exception {
        String id = streamOnce();
        HttpResponse<String> r = fx.get(admin("/admin/v1/requests/" + id), "authorization", "Bearer " + TOKEN);
        assertEquals(200, r.statusCode());
        JsonNode j = JSON.readTree(r.body());
        for (String f : new String[] {"request_id", "account", "upstream", "model", "prompt_tokens",
                "completion_tokens", "usage_source", "ttft_ms", "duration_ms", "tokens_per_second", "outcome"}) {
            assertTrue(j.has(f), "missing " + f + " in " + r.body());
        }
        assertEquals(id, j.get("request_id").asText());
        assertEquals(11, j.get("completion_tokens").asLong());
        assertEquals("upstream", j.get("usage_source").asText());
        assertEquals("completed", j.get("outcome").asText());
        assertEquals(404, fx.get(admin("/admin/v1/requests/nope"), "authorization", "Bearer " + TOKEN).statusCode());
    }

    @Test
    void adminApiNeedsTheToken() throws Exception {
        assertEquals(401, fx.get(admin("/admin/v1/usage?account=anonymous")).statusCode());
        assertEquals(401, fx.get(admin("/admin/v1/usage?account=anonymous"), "authorization", "Bearer wrong").statusCode());
        HttpResponse<String> ok = fx.get(admin("/admin/v1/usage?account=anonymous"), "authorization", "Bearer " + TOKEN);
        assertEquals(200, ok.statusCode());
    }

    @Test
    void usageTotalsGrowWithRequests() throws Exception {
        long before = JSON.readTree(fx.get(admin("/admin/v1/usage?account=anonymous"), "authorization",
                "Bearer " + TOKEN).body()).get("completion_tokens").asLong();
        streamOnce();
        long after = JSON.readTree(fx.get(admin("/admin/v1/usage?account=anonymous"), "authorization",
                "Bearer " + TOKEN).body()).get("completion_tokens").asLong();
        assertEquals(before + 11, after);
    }

    @Test
    void healthAndReadiness() throws Exception {
        assertEquals(200, fx.get(admin("/healthz")).statusCode());
        assertEquals(200, fx.get(admin("/readyz")).statusCode());
    }

    @Test
    void metricsPassPromtool() throws Exception {
        streamOnce();
        HttpResponse<String> r = fx.get(admin("/metrics"));
        assertEquals(200, r.statusCode());
        String text = r.body();
        assertTrue(text.contains("tollgate_tokens_total{"), text);
        assertTrue(text.contains("tollgate_requests_total{"));
        assertTrue(text.contains("tollgate_time_to_first_token_seconds_bucket{"));
        assertTrue(text.contains("tollgate_streams_in_flight"));
        assertTrue(text.contains("tollgate_metering_queue_overflow_total"));
        File promtool = java.util.Arrays.stream(System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator))
                .map(d -> new File(d, "promtool")).filter(File::canExecute).findFirst().orElse(new File("promtool"));
        Assumptions.assumeTrue(promtool.canExecute() || System.getenv("CI") != null,
                "promtool (Debian package prometheus) not installed; .ci/run installs it");
        Path f = Files.createTempFile("metrics", ".txt");
        Files.writeString(f, text, StandardCharsets.UTF_8);
        Process p = new ProcessBuilder(promtool.getPath(), "check", "metrics").redirectInput(f.toFile())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "promtool check metrics:\n" + out);
    }
}
