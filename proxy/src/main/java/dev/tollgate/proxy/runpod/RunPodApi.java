package dev.tollgate.proxy.runpod;

import dev.tollgate.proxy.config.UpstreamConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * Calls one RunPod endpoint's native API ({@code <url>/v2/<endpoint_id>/...}) with RunPod's own key
 * ({@code Authorization: Bearer <key>}; the client's Tollgate key never leaves Tollgate). Bodies are small JSON
 * documents (RunPod caps payloads at 10-20 MB), so each answer is read whole.
 *
 * <p>Threading: thread-safe; calls never block, answers complete on {@code executor}.
 */
final class RunPodApi {
    /** An HTTP answer from RunPod (status 0: no answer, the connection failed). */
    record Answer(int status, byte[] body, String retryAfter) {
        boolean ok() {
            return status >= 200 && status < 300;
        }
    }

    private final String name;
    private final String base;
    private final String endpointId;
    private final String authorization;
    private final String worker;
    private final long pollMillis;
    private final HttpClient http;
    private final Executor executor;

    RunPodApi(UpstreamConfig cfg, HttpClient http, Executor executor) {
        String url = cfg.effectiveUrl();
        this.base = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        this.endpointId = cfg.endpointId();
        URI u = URI.create(base);
        this.name = nameOf(cfg);
        this.worker = workerOf(cfg);
        String key = cfg.resolvedApiKey();
        this.authorization = key == null ? null : "Bearer " + key;
        this.pollMillis = cfg.pollMs() == null ? 1000 : cfg.pollMs();
        this.http = http;
        this.executor = executor;
        if (u.getHost() == null) {
            throw new IllegalArgumentException("RunPod url has no host: " + url);
        }
    }

    /** The upstream's name in records: its {@code name}, else {@code runpod-<endpoint_id>}. */
    static String nameOf(UpstreamConfig cfg) {
        return cfg.name() != null ? cfg.name() : "runpod-" + cfg.endpointId();
    }

    /** The payee: the upstream's {@code worker}, else its name. */
    static String workerOf(UpstreamConfig cfg) {
        return cfg.worker() != null ? cfg.worker() : nameOf(cfg);
    }

    String name() {
        return name;
    }

    String endpointId() {
        return endpointId;
    }

    String worker() {
        return worker;
    }

    long pollMillis() {
        return pollMillis;
    }

    /**
     * {@code method} {@code /v2/<endpoint>/<tail>} with an optional JSON body. A connection failure or timeout
     * answers status 0.
     */
    CompletableFuture<Answer> call(String method, String tail, byte[] body, Duration timeout) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/v2/" + endpointId + "/" + tail))
                .timeout(timeout)
                .header("accept", "application/json");
        if (authorization != null) {
            b.header("authorization", authorization);
        }
        if (body != null) {
            b.header("content-type", "application/json").method(method, HttpRequest.BodyPublishers.ofByteArray(body));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        return http.sendAsync(b.build(), HttpResponse.BodyHandlers.ofByteArray())
                .handleAsync((r, error) -> error != null ? new Answer(0, new byte[0], null)
                        : new Answer(r.statusCode(), r.body(), r.headers().firstValue("retry-after").orElse(null)),
                        executor);
    }
}
