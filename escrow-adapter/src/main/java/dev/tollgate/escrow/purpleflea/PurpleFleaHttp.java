package dev.tollgate.escrow.purpleflea;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.time.Duration;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;

/**
 * One HTTP call to the Purple Flea service, told apart by what is known about its delivery: answered (a status
 * and body), {@link Delivery#NOT_SENT} (connection refused, DNS failure, connect timeout, TLS handshake: the
 * request provably never reached the service, so a retry cannot do anything twice), or {@link Delivery#LOST}
 * (the request may have been received and applied; only a read can tell).
 *
 * <p>Threading: thread-safe (the JDK client is).
 */
final class PurpleFleaHttp {
    private static final ObjectMapper JSON = new ObjectMapper();

    enum Delivery { ANSWERED, NOT_SENT, LOST }

    /**
     * @param retryAfterMillis the {@code Retry-After} header of a 429 in milliseconds, or -1 when absent
     */
    record Answer(Delivery delivery, int status, JsonNode json, String error, long retryAfterMillis) {
        boolean answered() {
            return delivery == Delivery.ANSWERED;
        }

        /** The service's error code ({@code {"error": "..."}}), else {@code http_<status>}. */
        String code() {
            return json == null ? "http_" + status : json.path("error").asText("http_" + status);
        }

        /** The service's own message, else the code. */
        String message() {
            return json == null ? code() : json.path("message").asText(code());
        }
    }

    private final HttpClient http;
    private final URI base;
    private final Duration timeout;

    PurpleFleaHttp(URI base, Duration timeout) {
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
        this.base = base;
        this.timeout = timeout;
    }

    URI base() {
        return base;
    }

    /** Calls the service; {@code key} may be null (an unauthenticated read). Never throws. */
    Answer call(String method, String path, String body, String key) {
        String basePath = base.getPath() == null ? "" : base.getPath();
        if (basePath.endsWith("/")) {
            basePath = basePath.substring(0, basePath.length() - 1);
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(basePath + path)).timeout(timeout);
        if (key != null) {
            b.header("authorization", "Bearer " + key);
        }
        if (body != null) {
            b.header("content-type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            JsonNode json = null;
            try {
                json = r.body().isEmpty() ? null : JSON.readTree(r.body());
            } catch (IOException e) {
                // A non-JSON body (a proxy's error page): the status says enough.
            }
            return new Answer(Delivery.ANSWERED, r.statusCode(), json, null,
                    retryAfter(r.headers().firstValue("retry-after").orElse(null)));
        } catch (IOException e) {
            return new Answer(neverSent(e) ? Delivery.NOT_SENT : Delivery.LOST, 0, null, describe(e), -1);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Answer(Delivery.LOST, 0, null, "interrupted", -1);
        }
    }

    /** True for failures that happen before a request's first byte can leave: connect, DNS, TLS handshake. */
    static boolean neverSent(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof HttpConnectTimeoutException || t instanceof ConnectException
                    || t instanceof UnknownHostException || t instanceof UnresolvedAddressException
                    || t instanceof SSLHandshakeException) {
                return true;
            }
            if (t instanceof HttpTimeoutException) {
                return false; // A request timeout: sent, no answer.
            }
            if (t instanceof SSLException && t.getMessage() != null
                    && t.getMessage().contains("nrecognized SSL message")) {
                // The peer's first record was not TLS (a plaintext server on an https URL): raised while reading
                // the ServerHello, before any application data can be written. Any other TLS error is ambiguous.
                return true;
            }
        }
        return false;
    }

    private String describe(IOException e) {
        if (e instanceof HttpTimeoutException && !(e instanceof HttpConnectTimeoutException)) {
            return "no answer within " + timeout.toMillis() + " ms";
        }
        return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }

    /** Retry-After in seconds (the only form the service could send), as milliseconds; -1 when absent or bad. */
    static long retryAfter(String header) {
        if (header == null) {
            return -1;
        }
        try {
            long s = Long.parseLong(header.trim());
            return s < 0 ? -1 : Math.min(s, 3_600) * 1000;
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
