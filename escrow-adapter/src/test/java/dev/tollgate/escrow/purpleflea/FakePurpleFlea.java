package dev.tollgate.escrow.purpleflea;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback stand-in for the Purple Flea escrow service ({@code purple-flea/agent-escrow} at 0b7c3f7,
 * {@code src/index.ts}) with its published behaviour:
 * <ul>
 *   <li>auth by {@code Bearer <api key>}, looked up among registered agents; unknown key: 401;</li>
 *   <li>rate limits per route and client address ({@code x-forwarded-for}, else the peer address) in fixed
 *       one-minute windows: create 20, release 30; over them {@code 429 {"error":"rate_limited"}} without a
 *       {@code Retry-After} header (as the service) unless {@link #retryAfterSeconds} is set;</li>
 *   <li>create: 400 {@code invalid_amount} (below 0.10), {@code invalid_description} (under 3 characters),
 *       {@code invalid_counterparty} (not {@code ag_...}), {@code self_escrow}; 404 {@code counterparty_not_found};
 *       402 {@code insufficient_balance}; else the creator is debited (not idempotent: a retried create debits
 *       again) and a {@code funded} escrow is made with a commission of 1% rounded half-up to 6 decimals, 15% of
 *       it (rounded half-up) for the creator's referrer;</li>
 *   <li>release: 404, 403 for anyone but the creator, 409 unless {@code funded}/{@code completed}; pays the
 *       counterparty the amount minus the commission and the referrer its share;</li>
 *   <li>the timeout poller ({@link #expireDue}): a funded escrow past {@code timeout_hours} is refunded to its
 *       creator minus the commission;</li>
 *   <li>{@code GET /escrow/:id} for anyone (the service redacts only the event list for non-participants).</li>
 * </ul>
 * Simpler than the service: amounts are exact micro-USDC (the service uses binary floats), the time is the
 * test's clock, there is no {@code complete}/{@code dispute} route, and {@code _info} is not added. Faults:
 * {@link #dropNextCreateAnswer} applies a create and closes the connection without an answer;
 * {@link #dropNextCreateUnapplied} closes it without applying; {@link #useUpCreates} spends this minute's creates
 * as another client behind the same address would; a connection refused is a fake that is closed.
 */
final class FakePurpleFlea implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MINUTE = 60_000;

    private final HttpServer server;
    private final Clock clock;
    private final Map<String, String> agentOfKey = new HashMap<>();
    private final Map<String, String> referrerOf = new HashMap<>();
    final Map<String, Long> balances = new HashMap<>();
    final Map<String, ObjectNode> escrows = new HashMap<>();
    private final Map<String, long[]> windows = new HashMap<>();
    final AtomicInteger creates = new AtomicInteger();
    final AtomicInteger releases = new AtomicInteger();
    final AtomicInteger limited = new AtomicInteger();
    final AtomicInteger requests = new AtomicInteger();
    volatile boolean dropNextCreateAnswer;
    volatile boolean failNextReleaseAnswer;
    /** The next release is refused with 429 (as if this minute's budget for its path were spent). */
    volatile boolean limitNextRelease;
    /** The next create is received and dropped (connection closed) before anything is applied. */
    volatile boolean dropNextCreateUnapplied;
    volatile int retryAfterSeconds = -1;
    private int seq;

    FakePurpleFlea() throws IOException {
        this(Clock.systemUTC());
    }

    FakePurpleFlea(Clock clock) throws IOException {
        this(clock, 0);
    }

    /** On a given loopback port (0: any), to come back where a client expects it after a stop. */
    FakePurpleFlea(Clock clock, int port) throws IOException {
        this.clock = clock;
        // Answer without Nagle's delay (as a Node server does): otherwise each call waits for a delayed ACK.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
        server.createContext("/escrow/", this::handle);
        server.start();
    }

    int port() {
        return server.getAddress().getPort();
    }

    String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Registers an agent whose key is {@code "key-" + agent}. */
    synchronized void register(String agent) {
        register(agent, "key-" + agent);
    }

    synchronized void register(String agent, String key) {
        agentOfKey.put(key, agent);
        balances.putIfAbsent(agent, 0L);
    }

    synchronized void referredBy(String agent, String referrer) {
        referrerOf.put(agent, referrer);
    }

    synchronized long balance(String agent) {
        return balances.getOrDefault(agent, 0L);
    }

    /** Registers the agent if needed and credits it. */
    synchronized void fund(String agent, long micros) {
        if (!balances.containsKey(agent)) {
            register(agent);
        }
        balances.merge(agent, micros, Long::sum);
    }

    synchronized ObjectNode escrowDescribed(String description) {
        for (ObjectNode e : escrows.values()) {
            if (e.get("description").asText().equals(description)) {
                return e;
            }
        }
        return null;
    }

    /** The timeout poller: funded escrows past their timeout are refunded to the creator minus the commission. */
    synchronized int expireDue() {
        int n = 0;
        for (ObjectNode e : escrows.values()) {
            if (e.get("status").asText().equals("funded") && clock.millis() >= e.get("timeout_at_ms").asLong()) {
                long amount = micros(e.get("amount_usd").decimalValue());
                long commission = micros(e.get("commission_usd").decimalValue());
                balances.merge(e.get("creator_id").asText(), amount - commission, Long::sum);
                e.put("status", "refunded");
                n++;
            }
        }
        return n;
    }

    private static long micros(BigDecimal usd) {
        return usd.movePointRight(6).longValueExact();
    }

    private synchronized void handle(HttpExchange ex) throws IOException {
        requests.incrementAndGet();
        String path = ex.getRequestURI().getPath();
        String method = ex.getRequestMethod();
        if (method.equals("POST") && path.equals("/escrow/create") && overLimit(ex, path, 20)
                || method.equals("POST") && path.startsWith("/escrow/release/") && overLimit(ex, path, 30)) {
            limited.incrementAndGet();
            if (retryAfterSeconds >= 0) {
                ex.getResponseHeaders().set("retry-after", Integer.toString(retryAfterSeconds));
            }
            send(ex, 429, "{\"error\":\"rate_limited\",\"message\":\"Too many requests.\"}");
            return;
        }
        if (limitNextRelease && method.equals("POST") && path.startsWith("/escrow/release/")) {
            limitNextRelease = false;
            limited.incrementAndGet();
            send(ex, 429, "{\"error\":\"rate_limited\",\"message\":\"Too many requests.\"}");
            return;
        }
        String auth = ex.getRequestHeaders().getFirst("authorization");
        String caller = auth == null || !auth.startsWith("Bearer ") ? null : agentOfKey.get(auth.substring(7));
        if (method.equals("POST") && path.equals("/escrow/create")) {
            if (caller == null) {
                send(ex, 401, "{\"error\":\"unauthorized\"}");
                return;
            }
            create(ex, caller);
            return;
        }
        if (method.equals("POST") && path.startsWith("/escrow/release/")) {
            if (caller == null) {
                send(ex, 401, "{\"error\":\"unauthorized\"}");
                return;
            }
            release(ex, caller, path.substring("/escrow/release/".length()));
            return;
        }
        if (method.equals("GET")) {
            ObjectNode e = escrows.get(path.substring("/escrow/".length()));
            if (e == null) {
                send(ex, 404, "{\"error\":\"not_found\"}");
            } else {
                ObjectNode shown = e.deepCopy();
                shown.remove("timeout_at_ms");
                send(ex, 200, shown.toString());
            }
            return;
        }
        send(ex, 404, "{\"error\":\"not_found\"}");
    }

    private void create(HttpExchange ex, String caller) throws IOException {
        JsonNode body = JSON.readTree(ex.getRequestBody().readAllBytes());
        if (dropNextCreateUnapplied) {
            dropNextCreateUnapplied = false;
            ex.close(); // Received, crashed before applying: to the client just as ambiguous as a lost answer.
            return;
        }
        long amount = body.path("amount_usd").isNumber() ? micros(body.get("amount_usd").decimalValue()) : 0;
        String description = body.path("description").asText("").trim();
        String counterparty = body.path("counterparty_agent_id").asText("").trim();
        if (amount < 100_000) {
            send(ex, 400, "{\"error\":\"invalid_amount\",\"message\":\"Minimum escrow amount is $0.1\"}");
            return;
        }
        if (description.length() < 3) {
            send(ex, 400, "{\"error\":\"invalid_description\"}");
            return;
        }
        if (!counterparty.startsWith("ag_")) {
            send(ex, 400, "{\"error\":\"invalid_counterparty\",\"message\":\"counterparty_agent_id must be in ag_xxx "
                    + "format\"}");
            return;
        }
        if (counterparty.equals(caller)) {
            send(ex, 400, "{\"error\":\"self_escrow\",\"message\":\"Cannot create escrow with yourself\"}");
            return;
        }
        if (!balances.containsKey(counterparty)) {
            send(ex, 404, "{\"error\":\"counterparty_not_found\",\"message\":\"Counterparty agent not found\"}");
            return;
        }
        if (balance(caller) < amount) {
            send(ex, 402, "{\"error\":\"insufficient_balance\"}");
            return;
        }
        long hours = Math.min(720, Math.max(1, body.path("timeout_hours").asLong(24)));
        long commission = (amount + 50) / 100; // 1%, half-up to 6 decimals
        String referrer = referrerOf.get(caller);
        long referral = referrer == null ? 0 : (commission * 15 + 50) / 100;
        creates.incrementAndGet();
        balances.merge(caller, -amount, Long::sum);
        String id = String.format("esc_%016x", ++seq);
        ObjectNode e = JSON.createObjectNode().put("escrow_id", id)
                .put("amount_usd", BigDecimal.valueOf(amount, 6))
                .put("commission_usd", BigDecimal.valueOf(commission, 6))
                .put("net_to_counterparty", BigDecimal.valueOf(amount - commission, 6))
                .put("referral_commission_usd", BigDecimal.valueOf(referral, 6))
                .put("creator_id", caller).put("counterparty_id", counterparty).put("description", description)
                .put("status", "funded").put("timeout_hours", hours)
                .put("timeout_at_ms", clock.millis() + hours * 3_600_000L);
        if (referrer != null) {
            e.put("referrer_id", referrer);
        }
        escrows.put(id, e);
        if (dropNextCreateAnswer) {
            dropNextCreateAnswer = false;
            ex.close(); // Applied, but the answer never arrives.
            return;
        }
        ObjectNode answer = e.deepCopy();
        answer.remove("timeout_at_ms");
        send(ex, 201, answer.toString());
    }

    private void release(HttpExchange ex, String caller, String id) throws IOException {
        ObjectNode e = escrows.get(id);
        if (e == null) {
            send(ex, 404, "{\"error\":\"not_found\",\"message\":\"Escrow not found\"}");
            return;
        }
        if (!e.get("creator_id").asText().equals(caller)) {
            send(ex, 403, "{\"error\":\"forbidden\",\"message\":\"Only the escrow creator can release funds\"}");
            return;
        }
        String status = e.get("status").asText();
        if (!status.equals("funded") && !status.equals("completed")) {
            send(ex, 409, "{\"error\":\"invalid_status\"}");
            return;
        }
        long amount = micros(e.get("amount_usd").decimalValue());
        long commission = micros(e.get("commission_usd").decimalValue());
        long referral = micros(e.get("referral_commission_usd").decimalValue());
        releases.incrementAndGet();
        balances.merge(e.get("counterparty_id").asText(), amount - commission, Long::sum);
        if (referral > 0) {
            balances.merge(e.get("referrer_id").asText(), referral, Long::sum);
        }
        e.put("status", "released");
        if (failNextReleaseAnswer) {
            failNextReleaseAnswer = false;
            send(ex, 500, "{\"error\":\"release_failed\"}");
            return;
        }
        send(ex, 200, JSON.createObjectNode().put("escrow_id", id).put("status", "released")
                .put("amount_released", BigDecimal.valueOf(amount - commission, 6))
                .put("commission", BigDecimal.valueOf(commission, 6))
                .put("referral_commission", BigDecimal.valueOf(referral, 6))
                .put("counterparty_id", e.get("counterparty_id").asText()).toString());
    }

    /** Another client behind the same address used up this minute's creates. */
    synchronized void useUpCreates() {
        windows.put("/escrow/create:127.0.0.1", new long[] {clock.millis(), 20});
    }

    /** Sum of the amounts of released escrows, micro-USDC. */
    synchronized long releasedMicros() {
        long sum = 0;
        for (ObjectNode e : escrows.values()) {
            if (e.get("status").asText().equals("released")) {
                sum += micros(e.get("amount_usd").decimalValue());
            }
        }
        return sum;
    }

    /** Fixed one-minute windows per route and client address, as the service counts. */
    private boolean overLimit(HttpExchange ex, String path, int max) {
        String forwarded = ex.getRequestHeaders().getFirst("x-forwarded-for");
        String ip = forwarded != null ? forwarded.split(",")[0].trim()
                : ex.getRemoteAddress().getAddress().getHostAddress();
        String key = path + ":" + ip; // The service keys by the request's path: each escrow's release its own.
        long now = clock.millis();
        long[] w = windows.get(key);
        if (w == null || now - w[0] > MINUTE) {
            windows.put(key, new long[] {now, 1});
            return false;
        }
        w[1]++;
        return w[1] > max;
    }

    private static void send(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("content-type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
        ex.close();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
