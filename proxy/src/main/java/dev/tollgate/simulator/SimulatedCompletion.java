package dev.tollgate.simulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * What the simulator will answer to one request body: a pure function of the body's content (messages or
 * prompt or input, model, {@code max_tokens}, {@code n}), independent of {@code stream} and
 * {@code stream_options}, so a request streamed with or without usage yields the same text.
 *
 * <p>Prompt tokens: chat = sum over messages of (words in content + 4) + 3; completions = words in the
 * prompt(s) + 1; embeddings = words in the input(s); responses = like chat, with {@code instructions} as one
 * message and a string {@code input} as one message (else each input item's content as one). Completion
 * tokens per choice: a length drawn from the seed in [8, 64], cut at {@code max_tokens} (responses:
 * {@code max_output_tokens}; finish reason {@code length}), else {@code stop}.
 *
 * <p>Immutable.
 */
public final class SimulatedCompletion {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Which endpoint the body is for. */
    public enum Kind { CHAT, COMPLETION, EMBEDDING, RESPONSE }

    final Kind kind;
    final JsonNode body;
    final long seed;
    final long promptTokens;
    final long[] completionTokens;
    final boolean[] stoppedNaturally;

    private SimulatedCompletion(Kind kind, JsonNode body, long forcedTokens) {
        this.kind = kind;
        this.body = body;
        StringBuilder canon = new StringBuilder();
        for (String f : new String[] {"model", "messages", "prompt", "input", "max_tokens", "max_completion_tokens", "n"}) {
            JsonNode v = body.get(f);
            canon.append(f).append('=').append(v == null ? "" : v.toString()).append(';');
        }
        if (kind == Kind.RESPONSE) {
            canon.append("instructions=").append(body.path("instructions").toString()).append(";max_output_tokens=")
                    .append(body.path("max_output_tokens").toString());
        }
        this.seed = fnv(canon.toString());
        this.promptTokens = countPrompt(kind, body);
        int n = kind == Kind.EMBEDDING ? 0 : kind == Kind.RESPONSE ? 1 : Math.max(1, body.path("n").asInt(1));
        long max = kind == Kind.RESPONSE ? (body.hasNonNull("max_output_tokens") ? body.get("max_output_tokens").asLong() : -1)
                // vLLM: max_completion_tokens wins over max_tokens when both are set.
                : body.hasNonNull("max_completion_tokens") ? body.get("max_completion_tokens").asLong()
                : body.hasNonNull("max_tokens") ? body.get("max_tokens").asLong() : -1;
        this.completionTokens = new long[n];
        this.stoppedNaturally = new boolean[n];
        for (int c = 0; c < n; c++) {
            long natural = forcedTokens >= 0 ? forcedTokens : 8 + Math.floorMod(Vocabulary.mix(seed + c), 57L);
            boolean cut = forcedTokens >= 0 || (max >= 0 && natural > max);
            completionTokens[c] = forcedTokens >= 0 ? forcedTokens : (cut ? max : natural);
            stoppedNaturally[c] = !cut;
        }
    }

    /** Parses a request body; throws {@link IllegalArgumentException} with a client-facing message. */
    static SimulatedCompletion of(Kind kind, byte[] body, long forcedTokens) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (IOException e) {
            throw new IllegalArgumentException("Invalid JSON body: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("The request body must be a JSON object.");
        }
        switch (kind) {
            case CHAT -> {
                if (!root.path("messages").isArray()) {
                    throw new IllegalArgumentException("1 validation error: messages: Field required");
                }
            }
            case COMPLETION -> {
                if (root.get("prompt") == null) {
                    throw new IllegalArgumentException("1 validation error: prompt: Field required");
                }
            }
            case RESPONSE -> {
                if (!root.path("input").isTextual() && !root.path("input").isArray()) {
                    throw new IllegalArgumentException("1 validation error: input: Field required");
                }
            }
            default -> {
                if (root.get("input") == null) {
                    throw new IllegalArgumentException("1 validation error: input: Field required");
                }
            }
        }
        return new SimulatedCompletion(kind, root, forcedTokens);
    }

    /** Prompt tokens the simulator reports for a body of this kind. */
    public static long promptTokensFor(Kind kind, String requestJson) {
        return of(kind, requestJson.getBytes(StandardCharsets.UTF_8), -1).promptTokens;
    }

    /** Completion tokens the simulator reports for a body of this kind (sum over choices). */
    public static long completionTokensFor(Kind kind, String requestJson) {
        return of(kind, requestJson.getBytes(StandardCharsets.UTF_8), -1).totalCompletionTokens();
    }

    /** Prompt tokens the simulator reports for this chat/completions/embeddings body. */
    public static long promptTokensFor(String requestJson) {
        return of(kindOf(requestJson), requestJson.getBytes(StandardCharsets.UTF_8), -1).promptTokens;
    }

    /** Completion tokens the simulator reports for this body (sum over choices). */
    public static long completionTokensFor(String requestJson) {
        return of(kindOf(requestJson), requestJson.getBytes(StandardCharsets.UTF_8), -1).totalCompletionTokens();
    }

    private static Kind kindOf(String json) {
        return json.contains("\"messages\"") ? Kind.CHAT : json.contains("\"prompt\"") ? Kind.COMPLETION : Kind.EMBEDDING;
    }

    long totalCompletionTokens() {
        long t = 0;
        for (long c : completionTokens) {
            t += c;
        }
        return t;
    }

    int choices() {
        return completionTokens.length;
    }

    boolean stream() {
        return body.path("stream").asBoolean(false);
    }

    boolean hasStreamOptions() {
        return body.has("stream_options") && !body.get("stream_options").isNull();
    }

    /** vLLM: include_usage defaults to true once stream_options is present. */
    boolean includeUsage() {
        JsonNode so = body.get("stream_options");
        return so != null && so.isObject() && so.path("include_usage").asBoolean(true);
    }

    boolean continuousUsage() {
        return includeUsage() && body.path("stream_options").path("continuous_usage_stats").asBoolean(false);
    }

    String model(String served) {
        JsonNode m = body.get("model");
        return m != null && m.isTextual() ? m.asText() : served;
    }

    /** The text of tokens [from, to) of a choice. */
    String text(int choice, long from, long to) {
        StringBuilder sb = new StringBuilder((int) Math.min(1 << 20, (to - from) * 7));
        for (long i = from; i < to; i++) {
            sb.append(Vocabulary.token(seed, choice, i));
        }
        return sb.toString();
    }

    String finishReason(int choice) {
        return stoppedNaturally[choice] ? "stop" : "length";
    }

    private static long countPrompt(Kind kind, JsonNode body) {
        switch (kind) {
            case CHAT -> {
                long t = 3;
                for (JsonNode m : body.path("messages")) {
                    t += words(m.get("content")) + 4;
                }
                return t;
            }
            case COMPLETION -> {
                return words(body.get("prompt")) + 1;
            }
            case RESPONSE -> {
                long t = 3;
                if (body.hasNonNull("instructions")) {
                    t += words(body.get("instructions")) + 4;
                }
                JsonNode input = body.get("input");
                if (input.isTextual()) {
                    return t + words(input) + 4;
                }
                for (JsonNode item : input) {
                    t += (item.isObject() ? words(item.get("content")) : words(item)) + 4;
                }
                return t;
            }
            default -> {
                return words(body.get("input"));
            }
        }
    }

    private static long words(JsonNode node) {
        if (node == null || node.isNull()) {
            return 0;
        }
        if (node.isTextual()) {
            String s = node.asText().trim();
            return s.isEmpty() ? 0 : s.split("\\s+").length;
        }
        long t = 0;
        if (node.isArray()) {
            for (JsonNode part : node) {
                t += part.isObject() ? words(part.get("text")) : words(part);
            }
        }
        return t;
    }

    private static long fnv(String s) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < s.length(); i++) {
            h ^= s.charAt(i);
            h *= 0x100000001b3L;
        }
        return h;
    }
}
