package dev.tollgate.proxy.langfuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.proxy.TollgateNode;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.simulator.SimulatorServer;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.FakeLangfuse;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Langfuse is down while requests are served and Tollgate is restarted before it comes back: the real proxy and
 * simulator serve, the trace updates wait in the SQLite outbox, and the next process sends each of them once.
 */
class LangfuseRestartTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static TollgateNode node(SimulatorServer sim, Path dir, FakeLangfuse lf) throws Exception {
        ObjectNode cfg = JSON.createObjectNode().put("host", lf.host()).put("public_key", FakeLangfuse.PUBLIC_KEY)
                .put("secret_key", FakeLangfuse.SECRET_KEY).put("create_traces", true).put("flush_ms", 20);
        return TollgateNode.start(ProxyConfig.empty().withListen("127.0.0.1:0").withAdmin("127.0.0.1:0")
                .withDataDir(dir.toString()).withLangfuse(cfg)
                .withUpstreams(List.of(new UpstreamConfig("sim", sim.baseUrl(), null, null, true, "worker-1"))));
    }

    private static String chat(TollgateNode node, String trace) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(node.baseUrl()
                + "/chat/completions")).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"tollgate-sim-1\",\"max_tokens\":3,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
                        + (trace == null ? "" : ",\"metadata\":{\"trace_id\":\"" + trace + "\"}") + "}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return r.headers().firstValue("x-tollgate-request-id").orElseThrow();
    }

    @Test
    void updatesQueuedDuringAnOutageAreSentOnceByTheNextProcess() throws Exception {
        Path dir = Files.createTempDirectory("tollgate-lf-restart-");
        try (SimulatorServer sim = SimulatorServer.start(SimulatorConfig.defaults());
             FakeLangfuse lf = FakeLangfuse.start()) {
            lf.down();
            TollgateNode first = node(sim, dir, lf);
            String named;
            String created;
            try {
                named = chat(first, "outage-trace");
                created = chat(first, null);
                Await.until(() -> first.langfuse().pendingEvents() == 4, Duration.ofSeconds(15),
                        "four events queued (trace and generation of two requests)");
            } finally {
                first.close();
            }
            lf.up();
            TollgateNode second = node(sim, dir, lf);
            try {
                Await.until(() -> lf.trace("outage-trace") != null && lf.trace(created) != null
                        && second.langfuse().pendingEvents() == 0, Duration.ofSeconds(15), "both traces delivered");
                assertEquals(named, lf.trace("outage-trace").path("metadata").path("tollgate_request_id").asText());
                assertEquals("unpaid", lf.trace(created).path("metadata").path("pf_release_status").asText());
                assertEquals(4, lf.events().size());
                Set<String> ids = new HashSet<>();
                lf.events().forEach(e -> assertTrue(ids.add(e.path("id").asText()), "sent twice: " + e));
                // Further passes of the new process write nothing new.
                second.langfuse().runOnce(true);
                assertEquals(4, lf.events().size());
            } finally {
                second.close();
            }
        }
    }
}
