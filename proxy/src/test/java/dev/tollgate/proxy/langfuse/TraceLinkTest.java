package dev.tollgate.proxy.langfuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.FakeLangfuse;
import dev.tollgate.testing.ProxyFixture;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Which Langfuse trace a request belongs to: the body's {@code metadata} (LiteLLM's keys), else the
 * {@code langfuse_trace_id} header, else (with {@code create_traces}) its own request id; kept in the usage record
 * and in the journal, across a restart and in a database written by an earlier version.
 */
class TraceLinkTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static FakeLangfuse langfuse;
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        langfuse = FakeLangfuse.start();
        fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c.withLangfuse(JSON.createObjectNode()
                .put("host", langfuse.host()).put("public_key", FakeLangfuse.PUBLIC_KEY)
                .put("secret_key", FakeLangfuse.SECRET_KEY).put("create_traces", true)));
    }

    @AfterAll
    static void stop() {
        fx.close();
        langfuse.close();
    }

    private String chat(String metadata, String... headers) throws Exception {
        String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                + "\"max_tokens\":4" + (metadata == null ? "" : ",\"metadata\":" + metadata) + "}";
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", body, headers);
        assertEquals(200, r.statusCode(), new String(r.body()));
        return r.headers().firstValue("x-tollgate-request-id").orElseThrow();
    }

    @Test
    void metadataNamesTheTraceWithItsAttributes() throws Exception {
        String id = chat("{\"trace_id\":\"task-001\",\"session_id\":\"sess-9\",\"trace_user_id\":\"user-7\","
                + "\"tags\":[\"prod\",\"agent\"],\"generation_name\":\"main-generation\",\"other\":1}");
        UsageRecord r = fx.record(id);
        assertEquals("task-001", r.traceId());
        assertEquals("sess-9", r.trace().sessionId());
        assertEquals("user-7", r.trace().userId());
        assertEquals(List.of("prod", "agent"), r.trace().tags());
        assertEquals("main-generation", r.trace().generationName());
        // The journal keeps it: the lookup after the record left memory reads it back.
        UsageRecord journaled = awaitJournaled(id);
        assertEquals(r.trace(), journaled.trace());
        JsonNode admin = JSON.readTree(fx.get(fx.node.adminUrl() + "/admin/v1/requests/" + id).body());
        assertEquals("task-001", admin.path("trace_id").asText());
    }

    @Test
    void theHeaderNamesTheTraceWhenTheBodyDoesNot() throws Exception {
        String id = chat(null, "langfuse_trace_id", "hdr-trace-1");
        assertEquals("hdr-trace-1", fx.record(id).traceId());
        String both = chat("{\"trace_id\":\"body-wins\"}", "langfuse_trace_id", "hdr-trace-2");
        assertEquals("body-wins", fx.record(both).traceId());
    }

    @Test
    void aStreamedRequestIsLinkedTooAndItsBytesAreUnchanged() throws Exception {
        String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                + "\"max_tokens\":4,\"stream\":true,\"metadata\":{\"trace_id\":\"stream-trace\"}}";
        HttpResponse<byte[]> through = fx.post(fx.proxyOrigin(), "/v1/chat/completions", body);
        HttpResponse<byte[]> direct = fx.post(fx.simulatorOrigin(), "/v1/chat/completions", body);
        assertEquals(200, through.statusCode());
        String id = through.headers().firstValue("x-tollgate-request-id").orElseThrow();
        assertEquals("stream-trace", fx.record(id).traceId());
        // The simulator ignores metadata as vLLM does; the client sees what a direct request would have given.
        assertEquals(new String(direct.body()).replaceAll("\"id\":\"[^\"]*\"", "").replaceAll("\"created\":[0-9]+", ""),
                new String(through.body()).replaceAll("\"id\":\"[^\"]*\"", "").replaceAll("\"created\":[0-9]+", ""));
    }

    @Test
    void withCreateTracesARequestWithoutOneGetsItsRequestId() throws Exception {
        String id = chat(null);
        assertEquals(id, fx.record(id).traceId());
        // A metadata object of another shape, or without trace_id, names no trace: the request's own id is used.
        String odd = chat("\"not an object\"");
        assertEquals(odd, fx.record(odd).traceId());
        String noId = chat("{\"session_id\":\"s\"}");
        assertEquals(noId, fx.record(noId).traceId());
    }

    @Test
    void aDatabaseOfAnEarlierVersionGetsTheTraceColumns() throws Exception {
        Path dir = Files.createTempDirectory("tollgate-old-db-");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("tollgate.db"))) {
            c.createStatement().execute("CREATE TABLE usage (request_id TEXT PRIMARY KEY, account TEXT NOT NULL, "
                    + "worker TEXT NOT NULL, upstream TEXT NOT NULL, model TEXT NOT NULL, route TEXT NOT NULL, "
                    + "stream INTEGER NOT NULL, prompt INTEGER NOT NULL, completion INTEGER NOT NULL, "
                    + "source TEXT NOT NULL, max_tokens INTEGER NOT NULL, started_ms INTEGER NOT NULL, "
                    + "ttft_us INTEGER NOT NULL, duration_us INTEGER NOT NULL, generation_us INTEGER NOT NULL, "
                    + "upstream_us INTEGER NOT NULL, outcome TEXT NOT NULL, status INTEGER NOT NULL)");
            c.createStatement().execute("INSERT INTO usage VALUES ('old-1', 'a', 'w', 'u', 'm', 'CHAT_COMPLETIONS', "
                    + "0, 1, 2, 'upstream', 5, 0, 0, 0, 0, 0, 'completed', 200)");
        }
        try (Database db = Database.open(dir)) {
            db.transaction(c -> {
                ResultSet rs = c.createStatement().executeQuery("SELECT request_id, trace_id, trace_attrs FROM usage");
                assertTrue(rs.next());
                assertEquals("old-1", rs.getString(1));
                assertNull(rs.getString(2));
                return null;
            });
        }
        // Opening it again is a no-op (the columns are there).
        try (Database db = Database.open(dir)) {
            assertEquals(1, (int) db.transaction(c -> {
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM usage WHERE trace_id IS NULL");
                rs.next();
                return rs.getInt(1);
            }));
        }
    }

    private static UsageRecord awaitJournaled(String id) {
        return dev.tollgate.testing.Await.value(() -> fx.node.settlement().usage(id), java.time.Duration.ofSeconds(10),
                "journaled record " + id);
    }
}
