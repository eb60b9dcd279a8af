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
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback stand-in for the Purple Flea escrow service with its real semantics: create debits the creator
 * and is not idempotent (a retried create debits again), release pays the counterparty whole minus the 1% fee
 * and only from {@code funded}, a timeout refunds the creator minus the fee; faults can drop an answer after
 * the effect was applied.
 */
final class FakePurpleFlea implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer server;
    final Map<String, Long> balances = new HashMap<>();
    final Map<String, ObjectNode> escrows = new HashMap<>();
    final AtomicInteger creates = new AtomicInteger();
    final AtomicInteger releases = new AtomicInteger();
    volatile boolean dropNextCreateAnswer;
    volatile boolean failNextReleaseAnswer;
    private int seq;

    FakePurpleFlea() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/escrow/", this::handle);
        server.start();
    }

    String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    synchronized long balance(String agent) {
        return balances.getOrDefault(agent, 0L);
    }

    synchronized void fund(String agent, long micros) {
        balances.merge(agent, micros, Long::sum);
    }

    /** The 5-minute poller: every funded escrow past its timeout is refunded to its creator minus the fee. */
    synchronized void expireAll() {
        for (ObjectNode e : escrows.values()) {
            if (e.get("status").asText().equals("funded")) {
                long amount = micros(e.get("amount_usd").decimalValue());
                balances.merge(e.get("creator_id").asText(), amount - amount / 100, Long::sum);
                e.put("status", "refunded");
            }
        }
    }

    private static long micros(BigDecimal usd) {
        return usd.movePointRight(6).longValueExact();
    }

    private synchronized void handle(HttpExchange ex) throws IOException {
        String auth = ex.getRequestHeaders().getFirst("authorization");
        if (auth == null || !auth.startsWith("Bearer key-")) {
            send(ex, 401, "{\"error\":\"unauthorized\"}");
            return;
        }
        String caller = auth.substring("Bearer key-".length());
        String path = ex.getRequestURI().getPath();
        String method = ex.getRequestMethod();
        if (method.equals("POST") && path.equals("/escrow/create")) {
            JsonNode body = JSON.readTree(ex.getRequestBody().readAllBytes());
            long amount = micros(body.get("amount_usd").decimalValue());
            if (amount < 100_000) {
                send(ex, 400, "{\"error\":\"invalid_amount\"}");
                return;
            }
            if (balance(caller) < amount) {
                send(ex, 402, "{\"error\":\"insufficient_balance\"}");
                return;
            }
            creates.incrementAndGet();
            balances.merge(caller, -amount, Long::sum);
            String id = String.format("esc_%016x", ++seq);
            ObjectNode e = JSON.createObjectNode().put("escrow_id", id)
                    .put("amount_usd", BigDecimal.valueOf(amount, 6)).put("creator_id", caller)
                    .put("counterparty_id", body.get("counterparty_agent_id").asText())
                    .put("description", body.get("description").asText()).put("status", "funded");
            escrows.put(id, e);
            if (dropNextCreateAnswer) {
                dropNextCreateAnswer = false;
                ex.close(); // Applied, but the answer never arrives.
                return;
            }
            send(ex, 201, e.toString());
            return;
        }
        if (method.equals("POST") && path.startsWith("/escrow/release/")) {
            ObjectNode e = escrows.get(path.substring("/escrow/release/".length()));
            if (e == null) {
                send(ex, 404, "{\"error\":\"not_found\"}");
                return;
            }
            String status = e.get("status").asText();
            if (!status.equals("funded") && !status.equals("completed")) {
                send(ex, 409, "{\"error\":\"invalid_status\"}");
                return;
            }
            long amount = micros(e.get("amount_usd").decimalValue());
            releases.incrementAndGet();
            balances.merge(e.get("counterparty_id").asText(), amount - amount / 100, Long::sum);
            e.put("status", "released");
            if (failNextReleaseAnswer) {
                failNextReleaseAnswer = false;
                send(ex, 500, "{\"error\":\"release_failed\"}");
                return;
            }
            send(ex, 200, "{\"escrow_id\":\"" + e.get("escrow_id").asText() + "\",\"status\":\"released\"}");
            return;
        }
        if (method.equals("GET")) {
            ObjectNode e = escrows.get(path.substring("/escrow/".length()));
            if (e == null) {
                send(ex, 404, "{\"error\":\"not_found\"}");
            } else {
                send(ex, 200, e.toString());
            }
            return;
        }
        send(ex, 404, "{\"error\":\"not_found\"}");
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
