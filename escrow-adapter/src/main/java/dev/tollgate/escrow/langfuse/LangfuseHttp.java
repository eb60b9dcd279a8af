package dev.tollgate.escrow.langfuse;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Base64;

/**
 * Calls to Langfuse's public API with HTTP Basic auth (public key as user, secret key as password), sorted into
 * what the caller must do next: use the body, fix the keys (401/403), wait as told (429 and its
 * {@code Retry-After}), or retry later (5xx, timeouts, a refused connection).
 *
 * <p>Threading: thread-safe (the JDK client is); each call blocks its caller, so it is only called from the
 * bridge's own thread, never from an event loop or inside a database transaction.
 */
final class LangfuseHttp {
    /** What a call came to. */
    sealed interface Answer permits Ok, Unauthorized, RateLimited, Failed {
    }

    /** A 2xx answer (the ingestion API answers 207 with per-event results). */
    record Ok(int status, String body) implements Answer {
    }

    /** 401 or 403: the keys are wrong or lack access; nothing succeeds until they are fixed. */
    record Unauthorized(int status, String body) implements Answer {
    }

    /** 429: wait at least {@code retryAfterMillis}. */
    record RateLimited(long retryAfterMillis) implements Answer {
    }

    /** Anything else: a status other than the above (0 when there was no answer) and why. */
    record Failed(int status, String reason) implements Answer {
    }

    private static final long DEFAULT_RETRY_AFTER_MS = 1_000;
    private static final long MAX_RETRY_AFTER_MS = 600_000;

    private final HttpClient client;
    private final String host;
    private final String authorization;
    private final Duration timeout;

    LangfuseHttp(LangfuseConfig cfg) {
        this.host = cfg.host();
        this.timeout = Duration.ofMillis(cfg.timeoutMillis());
        this.client = HttpClient.newBuilder().connectTimeout(timeout).build();
        this.authorization = "Basic " + Base64.getEncoder().encodeToString(
                (cfg.publicKey() + ":" + cfg.secretKey()).getBytes(StandardCharsets.UTF_8));
    }

    Answer post(String path, String json) {
        return send(HttpRequest.newBuilder(URI.create(host + path)).timeout(timeout)
                .header("authorization", authorization).header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8)).build());
    }

    Answer get(String pathAndQuery) {
        return send(HttpRequest.newBuilder(URI.create(host + pathAndQuery)).timeout(timeout)
                .header("authorization", authorization).GET().build());
    }

    private Answer send(HttpRequest request) {
        HttpResponse<String> r;
        try {
            r = client.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            return new Failed(0, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Failed(0, "interrupted");
        }
        int st = r.statusCode();
        if (st >= 200 && st < 300) {
            return new Ok(st, r.body());
        }
        if (st == 401 || st == 403) {
            return new Unauthorized(st, r.body());
        }
        if (st == 429) {
            return new RateLimited(retryAfter(r.headers().firstValue("retry-after").orElse(null)));
        }
        String body = r.body() == null ? "" : r.body();
        return new Failed(st, "HTTP " + st + ": " + (body.length() > 200 ? body.substring(0, 200) : body));
    }

    /** A {@code Retry-After} value (seconds or an HTTP date) in milliseconds, within sane bounds. */
    static long retryAfter(String v) {
        if (v == null || v.isBlank()) {
            return DEFAULT_RETRY_AFTER_MS;
        }
        long ms;
        try {
            ms = Long.parseLong(v.trim()) * 1000;
        } catch (NumberFormatException e) {
            try {
                ms = ZonedDateTime.parse(v.trim(), DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli()
                        - System.currentTimeMillis();
            } catch (RuntimeException bad) {
                ms = DEFAULT_RETRY_AFTER_MS;
            }
        }
        return Math.max(0, Math.min(MAX_RETRY_AFTER_MS, ms));
    }
}
