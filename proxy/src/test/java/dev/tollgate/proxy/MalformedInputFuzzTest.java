package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A generator sends malformed requests (100,000 by default; {@code -Dtollgate.fuzz.count=N}): broken and
 * mistyped JSON, huge and negative numbers, unknown routes and methods, oversized bodies, raw garbage, header
 * injection, pipelined junk and abrupt disconnects. The proxy never answers 5xx for an internal error, never
 * leaks a buffer (PARANOID leak detection fails the class), and still serves a good request afterwards.
 */
class MalformedInputFuzzTest {
    private static final int COUNT = Integer.getInteger("tollgate.fuzz.count", 100_000);
    private static final String[] PATHS = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
        "/v1/models", "/v1/nope", "/", "/v1/chat/completions/../../etc", "/v1/chat/completions?x=%25zz&y"};
    private static final String[] METHODS = {"POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH"};

    static String body(Random r) {
        return switch (r.nextInt(14)) {
            case 0 -> "";
            case 1 -> "{";
            case 2 -> "null";
            case 3 -> "[1,2,3]";
            case 4 -> "{\"model\":1,\"messages\":[]}";
            case 5 -> "{\"messages\":\"x\"}";
            case 6 -> "{\"messages\":[],\"max_tokens\":\"x\"}";
            case 7 -> "{\"messages\":[],\"max_tokens\":-5}";
            case 8 -> "{\"messages\":[],\"max_tokens\":1e309}";
            case 9 -> "{\"messages\":[],\"max_tokens\":99999999999999999999999}";
            case 10 -> "{\"messages\":[],\"stream\":\"yes\",\"n\":0}";
            case 11 -> "{\"prompt\":" + "[".repeat(r.nextInt(3000)) + "}";
            case 12 -> "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\\u0000\"}],\"stream_options\":7}";
            default -> {
                byte[] b = new byte[r.nextInt(200)];
                r.nextBytes(b);
                yield new String(b, StandardCharsets.ISO_8859_1);
            }
        };
    }

    @Test
    void malformedRequestsNeverCrashLeakOrGet500() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(),
                c -> c.withLimits(c.withDefaults().limits().withMaxRequestBodyBytes(16 * 1024)))) {
            Random rnd = new Random(20261122);
            Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
            List<String> serverErrors = new ArrayList<>();
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            Semaphore inFlight = new Semaphore(64);
            int raw = Math.max(1, COUNT / 50);
            List<CompletableFuture<?>> pending = new ArrayList<>();
            for (int i = 0; i < COUNT - raw; i++) {
                String method = METHODS[rnd.nextInt(METHODS.length)];
                String path = PATHS[rnd.nextInt(PATHS.length)];
                String body = body(rnd);
                HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fx.proxyOrigin() + path))
                        .timeout(Duration.ofSeconds(30)).header("content-type", rnd.nextBoolean() ? "application/json" : "text/x-junk");
                if (method.equals("GET")) {
                    b.GET();
                } else {
                    b.method(method, HttpRequest.BodyPublishers.ofString(body, StandardCharsets.ISO_8859_1));
                }
                if (rnd.nextInt(20) == 0) {
                    b.header("x-sim-fault", "status:" + (400 + rnd.nextInt(10)));
                }
                inFlight.acquire();
                String what = method + " " + path + " " + body.length();
                pending.add(http.sendAsync(b.build(), HttpResponse.BodyHandlers.discarding()).whenComplete((resp, err) -> {
                    inFlight.release();
                    int st = err != null ? -1 : resp.statusCode();
                    statuses.computeIfAbsent(st, k -> new AtomicInteger()).incrementAndGet();
                    if (st >= 500) {
                        synchronized (serverErrors) {
                            serverErrors.add(st + " for " + what);
                        }
                    }
                }));
                if (pending.size() > 1000) {
                    pending.removeIf(CompletableFuture::isDone);
                }
            }
            CompletableFuture.allOf(pending.toArray(new CompletableFuture<?>[0])).join();
            for (int i = 0; i < raw; i++) {
                rawGarbage(fx.node.proxyPort(), rnd);
            }
            assertTrue(serverErrors.isEmpty(), serverErrors.size() + " responses were 5xx: "
                    + serverErrors.subList(0, Math.min(10, serverErrors.size())));
            assertEquals(null, statuses.get(-1), "every well-framed request got an answer: " + statuses);
            HttpResponse<byte[]> ok = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                    "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"still there?\"}]}");
            assertEquals(200, ok.statusCode(), "the proxy still serves after " + COUNT + " malformed requests");
        }
    }

    /** Bytes that are not HTTP, injected headers, pipelined junk, and connections dropped mid-request. */
    private static void rawGarbage(int port, Random rnd) throws Exception {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            String req = switch (rnd.nextInt(6)) {
                case 0 -> "GARBAGE\r\n\r\n";
                case 1 -> "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-evil: a\r\nb: c\r\ncontent-length: 2\r\n\r\n{}"
                        + "\u0000\u0001junk after the request\r\n\r\n";
                case 2 -> "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{\"messages\":";
                case 3 -> "GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: " + "a".repeat(40_000) + "\r\n\r\n";
                case 4 -> "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nZZZ\r\n";
                default -> "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n";
            };
            out.write(req.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            if (rnd.nextBoolean()) {
                return; // abrupt disconnect
            }
            s.shutdownOutput();
            InputStream in = s.getInputStream();
            byte[] head = in.readNBytes(12);
            if (head.length == 12) {
                int status = Integer.parseInt(new String(head, 9, 3, StandardCharsets.US_ASCII));
                assertTrue(status < 500, "raw request answered " + status + ": " + req.substring(0, Math.min(60, req.length())));
            }
        } catch (java.net.SocketException | java.net.SocketTimeoutException e) {
            // The proxy closed a connection that sent garbage: that is an acceptable answer.
        }
    }
}
