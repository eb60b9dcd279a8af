package dev.tollgate.proxy;

import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * A request protocol other than the OpenAI relay, chosen by path before the relay's route policy: an upstream kind
 * whose API is not "one request, one streamed answer" (RunPod's job queue, {@code dev.tollgate.proxy.runpod}). The
 * connection handler hands it the whole request as bytes and writes the reply it completes with; the protocol owns
 * authentication, admission, metering and settlement of what it serves. A new upstream kind is another
 * implementation, not another branch in {@link Exchange}.
 *
 * <p>Threading: {@link #handles} on event loops (cheap, no I/O); {@link #handle} on an event loop, must not block
 * it; the returned stage may complete on any thread.
 */
public interface ProtocolRoute {
    /** Whether this protocol answers requests for this canonical path. */
    boolean handles(String path);

    /** Serves one request; the stage completes with the reply to write (never exceptionally). */
    CompletionStage<Reply> handle(Call call);

    /**
     * One client request.
     *
     * @param requestId Tollgate's request id ({@code x-tollgate-request-id})
     * @param method    HTTP method name
     * @param path      canonical path (no query)
     * @param query     the raw query string without {@code ?}, or {@code ""}
     * @param headers   request headers, names in lower case (first value of each)
     * @param body      the request body
     */
    record Call(String requestId, String method, String path, String query, Map<String, String> headers,
                byte[] body) {
    }

    /**
     * The answer: status, JSON (or other) body and extra headers.
     */
    record Reply(int status, String contentType, byte[] body, Map<String, String> headers) {
        public static Reply json(int status, byte[] body) {
            return new Reply(status, "application/json", body, Map.of());
        }
    }
}
