package dev.tollgate.proxy.runpod;

import dev.tollgate.proxy.ProtocolRoute;
import dev.tollgate.proxy.http.OpenAiError;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** Replies of the RunPod protocol: RunPod's own answers passed through, or Tollgate's OpenAI-shaped errors. */
final class Replies {
    private Replies() {
    }

    static ProtocolRoute.Reply error(int status, String message, String type, String param, String code) {
        return ProtocolRoute.Reply.json(status, OpenAiError.json(message, type, param, code)
                .getBytes(StandardCharsets.UTF_8));
    }

    /** RunPod's answer with its JSON body replaced by {@code body} (status and {@code Retry-After} kept). */
    static ProtocolRoute.Reply json(RunPodApi.Answer a, com.fasterxml.jackson.databind.JsonNode body) {
        return new ProtocolRoute.Reply(a.status(), "application/json", body.toString().getBytes(StandardCharsets.UTF_8),
                a.retryAfter() == null ? Map.of() : Map.of("retry-after", a.retryAfter()));
    }

    /** RunPod's answer as it came (a 429 keeps its {@code Retry-After}); no answer at all is a 502. */
    static ProtocolRoute.Reply passThrough(RunPodApi.Answer a) {
        if (a.status() == 0) {
            return error(502, "RunPod could not be reached.", "upstream_error", null, null);
        }
        return new ProtocolRoute.Reply(a.status(), "application/json", a.body(),
                a.retryAfter() == null ? Map.of() : Map.of("retry-after", a.retryAfter()));
    }
}
