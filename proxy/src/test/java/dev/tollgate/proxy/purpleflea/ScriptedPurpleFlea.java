package dev.tollgate.proxy.purpleflea;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A scripted stand-in for the Purple Flea escrow service, enough to drive the proxy's hooks end to end: every key
 * is accepted (the start-up probe, a release of an escrow that cannot exist, answers 404 as the service does for a
 * known key), and each create answers as {@link #onCreate} says: the service's {@code 404
 * counterparty_not_found}, no answer at all (the connection closed after the request was read), or a funded
 * escrow that a release then pays. Much simpler than the service (no balances, no rate limits: see
 * {@code FakePurpleFlea} in escrow-adapter for those); every request path is recorded.
 *
 * <p>Threading: the JDK server's thread; fields are safe to read from the test.
 */
final class ScriptedPurpleFlea implements AutoCloseable {
    enum OnCreate { COUNTERPARTY_NOT_FOUND, NO_ANSWER, FUNDED }

    volatile OnCreate onCreate = OnCreate.FUNDED;
    final List<String> calls = new CopyOnWriteArrayList<>();
    private final HttpServer server;
    private int seq;

    ScriptedPurpleFlea() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private synchronized void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        byte[] body = ex.getRequestBody().readAllBytes();
        calls.add(ex.getRequestMethod() + " " + path);
        if (path.equals("/escrow/create")) {
            switch (onCreate) {
                case COUNTERPARTY_NOT_FOUND -> send(ex, 404, "{\"error\":\"counterparty_not_found\",\"message\":"
                        + "\"Counterparty agent not found in casino\"}");
                case NO_ANSWER -> ex.close();
                case FUNDED -> {
                    String amount = new String(body, StandardCharsets.UTF_8).replaceAll(".*\"amount_usd\":([0-9.]+).*",
                            "$1");
                    send(ex, 201, "{\"escrow_id\":\"esc_" + String.format("%016x", ++seq) + "\",\"amount_usd\":"
                            + amount + ",\"status\":\"funded\"}");
                }
                default -> throw new IllegalStateException();
            }
            return;
        }
        if (path.startsWith("/escrow/release/esc_0000000000000000") || !path.startsWith("/escrow/release/")) {
            send(ex, 404, "{\"error\":\"not_found\",\"message\":\"Escrow not found\"}");
            return;
        }
        send(ex, 200, "{\"escrow_id\":\"" + path.substring("/escrow/release/".length()) + "\",\"status\":\"released\"}");
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
