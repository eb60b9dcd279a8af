package dev.tollgate.testing;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A Langfuse public API on a loopback port, as {@code shared/reference/langfuse.md} describes it: HTTP Basic auth
 * on every call (401 otherwise), {@code POST /api/public/ingestion} answering 207 with per-event successes and
 * errors, deduplicating event ids and upserting traces (metadata merges), observations and scores by id;
 * {@code GET /api/public/v3/scores} with name/traceId/fromTimestamp/toTimestamp filters, {@code limit} (default
 * 50, above 100 is a 400), rows ordered {@code timestamp DESC, id DESC}, and an opaque {@code meta.cursor} until
 * the last page; a 429 with {@code Retry-After} and whole-call 503s on demand; an outage (the port closed).
 *
 * <p>Simpler than the real service: the cursor is an encoded offset into the filtered rows (the real one is a
 * key), ingestion applies events at once (the real service queues them), and no project or environment
 * separation. Threading: the JDK server's thread; test-facing methods are synchronized.
 */
public final class FakeLangfuse implements AutoCloseable {
    public static final String PUBLIC_KEY = "pk-lf-test";
    public static final String SECRET_KEY = "sk-lf-test";
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);

    private HttpServer server;
    private final int port;
    private final List<ObjectNode> received = new ArrayList<>();
    private final Set<String> seenEventIds = new HashSet<>();
    private final Map<String, ObjectNode> traces = new LinkedHashMap<>();
    private final Map<String, ObjectNode> observations = new LinkedHashMap<>();
    private final Map<String, ObjectNode> scores = new LinkedHashMap<>();
    private final List<String> scoreQueries = new ArrayList<>();
    private final AtomicInteger unauthorizedCalls = new AtomicInteger();
    private final AtomicInteger ingestionCalls = new AtomicInteger();
    private final AtomicInteger calls = new AtomicInteger();
    private String secret = SECRET_KEY;
    private int rateLimitCalls;
    private int failCalls;
    private final Map<String, Integer> eventErrors = new HashMap<>();
    private long clockMs = System.currentTimeMillis();

    private FakeLangfuse(int port) throws IOException {
        this.port = port;
        open();
    }

    public static FakeLangfuse start() throws IOException {
        return new FakeLangfuse(0);
    }

    private void open() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", port == 0 ? 0 : port), 16);
        server.createContext("/", this::handle);
        server.start();
    }

    public String host() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    // --- controls -------------------------------------------------------------------------------------------

    /** The next {@code calls} calls answer 429 with {@code Retry-After: seconds}. */
    public synchronized void rateLimit(int calls, int seconds) {
        rateLimitCalls = calls;
        retryAfter = seconds;
    }

    private int retryAfter;

    /** The next {@code calls} calls answer 503. */
    public synchronized void fail(int calls) {
        failCalls = calls;
    }

    /** The event with this id is answered with this status in the 207's errors (once). */
    public synchronized void eventError(String eventId, int status) {
        eventErrors.put(eventId, status);
    }

    /** Only this secret key is accepted from now on (the old one gets 401). */
    public synchronized void rotateSecret(String s) {
        secret = s;
    }

    /** Outage: the port stops accepting connections. */
    public void down() {
        server.stop(0);
    }

    /** The outage ends: the same port accepts again. */
    public void up() throws IOException {
        int p = server.getAddress().getPort();
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", p), 16);
        server.createContext("/", this::handle);
        server.start();
    }

    /** The clock new and updated scores are stamped with. */
    public synchronized void clock(long epochMs) {
        clockMs = epochMs;
    }

    /** An evaluator or user adds a numeric score (or updates it when the id exists: timestamp kept). */
    public synchronized void score(String id, String traceId, String name, String value) {
        ObjectNode s = scores.get(id);
        String now = Instant.ofEpochMilli(clockMs++).toString();
        if (s == null) {
            s = JSON.createObjectNode();
            s.put("id", id);
            s.put("timestamp", now);
            s.put("createdAt", now);
            s.put("source", "API");
            s.put("dataType", "NUMERIC");
            scores.put(id, s);
        }
        s.put("traceId", traceId);
        s.put("name", name);
        s.put("value", new BigDecimal(value));
        s.put("updatedAt", now);
    }

    // --- what was received ------------------------------------------------------------------------------------

    /** Every ingestion event received, in order, duplicates included. */
    public synchronized List<ObjectNode> events() {
        return List.copyOf(received);
    }

    /** Events of one type received for a body id or trace id. */
    public synchronized List<ObjectNode> events(String type, String traceId) {
        List<ObjectNode> out = new ArrayList<>();
        for (ObjectNode e : received) {
            JsonNode b = e.path("body");
            String t = e.path("type").asText().startsWith("trace") ? b.path("id").asText() : b.path("traceId").asText();
            if (e.path("type").asText().equals(type) && t.equals(traceId)) {
                out.add(e);
            }
        }
        return out;
    }

    /** A trace as stored (metadata merged over upserts), or null. */
    public synchronized ObjectNode trace(String id) {
        ObjectNode t = traces.get(id);
        return t == null ? null : t.deepCopy();
    }

    public synchronized ObjectNode observation(String id) {
        ObjectNode o = observations.get(id);
        return o == null ? null : o.deepCopy();
    }

    /** A score as stored, or null. */
    public synchronized ObjectNode storedScore(String id) {
        ObjectNode s = scores.get(id);
        return s == null ? null : s.deepCopy();
    }

    /** Scores with this name on a trace. */
    public synchronized List<ObjectNode> scoresOn(String traceId, String name) {
        List<ObjectNode> out = new ArrayList<>();
        for (ObjectNode s : scores.values()) {
            if (s.path("traceId").asText().equals(traceId) && s.path("name").asText().equals(name)) {
                out.add(s.deepCopy());
            }
        }
        return out;
    }

    public synchronized List<String> scoreQueries() {
        return List.copyOf(scoreQueries);
    }

    public int unauthorizedCalls() {
        return unauthorizedCalls.get();
    }

    /** Every call that reached the server, whatever its answer. */
    public int calls() {
        return calls.get();
    }

    /** Ingestion calls that passed auth, rate limits and injected failures. */
    public int ingestionCalls() {
        return ingestionCalls.get();
    }

    // --- the API ------------------------------------------------------------------------------------------------

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            byte[] body = ex.getRequestBody().readAllBytes();
            calls.incrementAndGet();
            synchronized (this) {
                String auth = ex.getRequestHeaders().getFirst("authorization");
                String expected = "Basic " + Base64.getEncoder().encodeToString((PUBLIC_KEY + ":" + secret)
                        .getBytes(StandardCharsets.UTF_8));
                if (!expected.equals(auth)) {
                    unauthorizedCalls.incrementAndGet();
                    reply(ex, 401, "{\"message\":\"Invalid credentials\"}", null);
                    return;
                }
                if (rateLimitCalls > 0) {
                    rateLimitCalls--;
                    reply(ex, 429, "{\"message\":\"rate limit exceeded\"}", Integer.toString(retryAfter));
                    return;
                }
                if (failCalls > 0) {
                    failCalls--;
                    reply(ex, 503, "{\"message\":\"service unavailable\"}", null);
                    return;
                }
                String path = ex.getRequestURI().getPath();
                if (ex.getRequestMethod().equals("POST") && path.equals("/api/public/ingestion")) {
                    ingestionCalls.incrementAndGet();
                    reply(ex, 207, ingest(JSON.readTree(body)), null);
                } else if (ex.getRequestMethod().equals("GET") && path.equals("/api/public/v3/scores")) {
                    scoreQueries.add(ex.getRequestURI().getRawQuery());
                    String[] answer = listScores(query(ex.getRequestURI().getRawQuery()));
                    reply(ex, Integer.parseInt(answer[0]), answer[1], null);
                } else {
                    reply(ex, 404, "{\"message\":\"not found\"}", null);
                }
            }
        }
    }

    private String ingest(JsonNode req) {
        ObjectNode answer = JSON.createObjectNode();
        ArrayNode ok = answer.putArray("successes");
        ArrayNode errors = answer.putArray("errors");
        for (JsonNode e : req.path("batch")) {
            String id = e.path("id").asText();
            received.add((ObjectNode) e.deepCopy());
            Integer err = eventErrors.remove(id);
            if (err != null) {
                errors.addObject().put("id", id).put("status", err).put("message", "event failed")
                        .put("error", err >= 500 ? "internal" : "invalid event");
                continue;
            }
            if (seenEventIds.add(id)) {
                apply(e.path("type").asText(), (ObjectNode) e.path("body"));
            }
            ok.addObject().put("id", id).put("status", 201);
        }
        return answer.toString();
    }

    private void apply(String type, ObjectNode body) {
        String id = body.path("id").asText();
        switch (type) {
            case "trace-create" -> {
                ObjectNode t = traces.computeIfAbsent(id, k -> JSON.createObjectNode().put("id", k));
                ObjectNode meta = t.has("metadata") ? (ObjectNode) t.get("metadata") : t.putObject("metadata");
                body.fields().forEachRemaining(f -> {
                    if (f.getKey().equals("metadata")) {
                        meta.setAll((ObjectNode) f.getValue());
                    } else {
                        t.set(f.getKey(), f.getValue());
                    }
                });
            }
            case "generation-create", "generation-update" -> {
                ObjectNode o = observations.computeIfAbsent(id, k -> JSON.createObjectNode());
                o.setAll(body);
            }
            case "score-create" -> {
                ObjectNode s = scores.get(id);
                String now = Instant.ofEpochMilli(clockMs++).toString();
                if (s == null) {
                    s = JSON.createObjectNode().put("timestamp", now).put("createdAt", now).put("source", "API");
                    scores.put(id, s);
                }
                s.setAll(body);
                s.put("updatedAt", now);
            }
            default -> {
            }
        }
    }

    private String[] listScores(Map<String, String> q) {
        int limit = q.containsKey("limit") ? Integer.parseInt(q.get("limit")) : 50;
        if (limit < 1 || limit > 100) {
            return new String[] {"400", "{\"message\":\"limit must be between 1 and 100\"}"};
        }
        Set<String> names = q.containsKey("name") ? new HashSet<>(Arrays.asList(q.get("name").split(","))) : null;
        Set<String> traceIds = q.containsKey("traceId") ? new HashSet<>(Arrays.asList(q.get("traceId").split(",")))
                : null;
        Instant from = q.containsKey("fromTimestamp") ? Instant.parse(q.get("fromTimestamp")) : null;
        Instant to = q.containsKey("toTimestamp") ? Instant.parse(q.get("toTimestamp")) : null;
        List<ObjectNode> rows = new ArrayList<>();
        for (ObjectNode s : scores.values()) {
            Instant ts = Instant.parse(s.path("timestamp").asText());
            if ((names == null || names.contains(s.path("name").asText()))
                    && (traceIds == null || traceIds.contains(s.path("traceId").asText()))
                    && (from == null || !ts.isBefore(from)) && (to == null || ts.isBefore(to))) {
                rows.add(s);
            }
        }
        rows.sort(Comparator.comparing((ObjectNode s) -> Instant.parse(s.path("timestamp").asText()))
                .thenComparing(s -> s.path("id").asText()).reversed());
        int offset = 0;
        if (q.containsKey("cursor")) {
            offset = Integer.parseInt(new String(Base64.getUrlDecoder().decode(q.get("cursor")),
                    StandardCharsets.UTF_8));
        }
        ObjectNode answer = JSON.createObjectNode();
        ArrayNode data = answer.putArray("data");
        for (int i = offset; i < Math.min(rows.size(), offset + limit); i++) {
            data.add(rows.get(i));
        }
        ObjectNode meta = answer.putObject("meta").put("limit", limit);
        if (offset + limit < rows.size()) {
            meta.put("cursor", Base64.getUrlEncoder().encodeToString(
                    Integer.toString(offset + limit).getBytes(StandardCharsets.UTF_8)));
        }
        return new String[] {"200", answer.toString()};
    }

    private static Map<String, String> query(String raw) {
        Map<String, String> q = new HashMap<>();
        if (raw == null) {
            return q;
        }
        for (String kv : raw.split("&")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                q.put(URLDecoder.decode(kv.substring(0, eq), StandardCharsets.UTF_8),
                        URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return q;
    }

    private static void reply(HttpExchange ex, int status, String json, String retryAfter) throws IOException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("content-type", "application/json");
        if (retryAfter != null) {
            ex.getResponseHeaders().set("retry-after", retryAfter);
        }
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
