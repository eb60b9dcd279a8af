package dev.tollgate.proxy.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Exact usage for streamed jobs, invisible to clients that did not ask for it. A streaming job's worker-vllm
 * output has vLLM usage only when the job asks for {@code stream_options.include_usage}; Tollgate sets it (in
 * {@code sampling_params}, or in {@code openai_input} for an OpenAI-shaped input) when the client did not, as the
 * proxy does on the OpenAI route, and cuts the one usage-only chunk ({@code "choices":[]}) it causes out of what
 * the client reads: the output list of {@code /runsync} and {@code /status} answers, and the slices of
 * {@code /stream} answers. The other bytes and the slice boundaries stay as the worker yielded them; on
 * {@code /stream} an event still incomplete at the end of one answer is held back until the next (or the last).
 *
 * <p>Threading: {@link #inject} and {@link #stripAggregate} are stateless; {@link #stripStream} keeps each job's
 * held-back text and runs on the RunPod thread only.
 */
final class UsageInjection {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Map<String, String> carry = new HashMap<>();

    /**
     * Sets {@code include_usage} in a streaming job's body (in place); true when it did. Not for a job with a
     * {@code webhook}: RunPod sends its output straight to the client's webhook, where the added chunk could not be
     * removed (such a job is metered from what the client asked for, or estimated).
     */
    static boolean inject(ObjectNode body) {
        JsonNode webhook = body.get("webhook");
        if (webhook != null && !webhook.isNull()) {
            return false;
        }
        JsonNode in = body.get("input");
        if (!(in instanceof ObjectNode input)) {
            return false;
        }
        ObjectNode target;
        JsonNode oi = input.get("openai_input");
        if (oi instanceof ObjectNode openAi) {
            if (!openAi.path("stream").asBoolean(false)) {
                return false;
            }
            target = openAi;
        } else {
            if (!input.path("stream").asBoolean(false)) {
                return false;
            }
            JsonNode sp = input.get("sampling_params");
            if (sp != null && !sp.isObject()) {
                return false; // Not ours to fix: the worker will refuse it.
            }
            target = sp == null ? input.putObject("sampling_params") : (ObjectNode) sp;
        }
        JsonNode so = target.get("stream_options");
        if (so != null && !so.isObject()) {
            return false;
        }
        if (so != null && so.path("include_usage").asBoolean(false)) {
            return false; // The client asked: it sees the usage.
        }
        ObjectNode options = so == null ? target.putObject("stream_options") : (ObjectNode) so;
        options.put("include_usage", true);
        return true;
    }

    /** An answer whose {@code output} is a list of SSE slices, without the usage-only chunk. */
    static JsonNode stripAggregate(JsonNode answer) {
        if (answer == null || !answer.path("output").isArray()) {
            return answer;
        }
        List<String> slices = texts(answer.get("output"));
        if (slices == null) {
            return answer;
        }
        ObjectNode copy = answer.deepCopy();
        ArrayNode out = copy.putArray("output");
        for (String s : cut("", slices, true).slices()) {
            out.add(s);
        }
        return copy;
    }

    /** A {@code /stream} answer ({@code {"status","stream":[{"output":...}]}}) without the usage-only chunk. */
    JsonNode stripStream(String requestId, JsonNode answer) {
        if (answer == null || !answer.path("stream").isArray()) {
            return answer;
        }
        List<String> slices = new ArrayList<>();
        for (JsonNode item : answer.get("stream")) {
            JsonNode o = item.get("output");
            if (o == null || !o.isTextual()) {
                return answer;
            }
            slices.add(o.asText());
        }
        boolean last = JobSettlement.terminal(answer.path("status").asText(null));
        Cut c = cut(carry.getOrDefault(requestId, ""), slices, last);
        if (last || c.carry().isEmpty()) {
            carry.remove(requestId);
        } else {
            carry.put(requestId, c.carry());
        }
        ObjectNode copy = answer.deepCopy();
        ArrayNode stream = copy.putArray("stream");
        for (String s : c.slices()) {
            stream.addObject().put("output", s);
        }
        return copy;
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        for (JsonNode n : array) {
            if (!n.isTextual()) {
                return null;
            }
            out.add(n.asText());
        }
        return out;
    }

    private record Cut(List<String> slices, String carry) {
    }

    /**
     * Removes usage-only events from {@code held + slices}, keeping slice boundaries; unless {@code last}, the
     * trailing incomplete event is held back ({@code carry}).
     */
    private static Cut cut(String held, List<String> slices, boolean last) {
        if (slices.isEmpty() && !held.isEmpty() && last) {
            slices = List.of(""); // The held-back end goes out with the last answer.
        }
        StringBuilder all = new StringBuilder(held);
        int[] ends = new int[slices.size()];
        for (int i = 0; i < slices.size(); i++) {
            all.append(slices.get(i));
            ends[i] = all.length();
        }
        String text = all.toString();
        boolean[] drop = new boolean[text.length()];
        int start = 0;
        int keepUntil = text.length();
        while (start < text.length()) {
            int end = text.indexOf("\n\n", start);
            if (end < 0) {
                if (!last) {
                    keepUntil = start; // Incomplete: wait for the rest.
                }
                break;
            }
            end += 2;
            if (usageOnly(text.substring(start, end))) {
                for (int i = start; i < end; i++) {
                    drop[i] = true;
                }
            }
            start = end;
        }
        List<String> out = new ArrayList<>();
        int from = 0;
        for (int i = 0; i < ends.length; i++) {
            StringBuilder sb = new StringBuilder();
            int to = Math.min(ends[i], keepUntil);
            for (int k = from; k < to; k++) {
                if (!drop[k]) {
                    sb.append(text.charAt(k));
                }
            }
            if (sb.length() > 0) {
                out.add(sb.toString());
            }
            from = Math.max(from, to);
        }
        return new Cut(out, text.substring(Math.min(keepUntil, text.length())));
    }

    private static boolean usageOnly(String event) {
        String e = event.strip();
        if (!e.startsWith("data:")) {
            return false;
        }
        try {
            JsonNode chunk = JSON.readTree(e.substring(5).trim());
            return chunk != null && chunk.isObject() && chunk.path("choices").isArray()
                    && chunk.get("choices").isEmpty() && chunk.path("usage").isObject();
        } catch (java.io.IOException ex) {
            return false;
        }
    }
}
