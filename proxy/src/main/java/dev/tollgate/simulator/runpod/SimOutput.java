package dev.tollgate.simulator.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * What a simulated worker yields for a job input, as worker-vllm does (wire-formats.md §4.2, §4.3): the job's
 * {@code output} is the list of its yields. Deterministic: a pure function of the input.
 * <ul>
 *   <li>default, {@code stream} false: one vLLM body, {@code [{"object":"chat.completion",...,"usage":{...}}]}
 *       ({@code text_completion} for a {@code prompt});</li>
 *   <li>{@code stream} true: vLLM's SSE bytes cut into arbitrary slices (as {@code iter_any()} does), with usage only
 *       when {@code sampling_params.stream_options.include_usage} (final usage chunk) and per chunk with
 *       {@code continuous_usage_stats};</li>
 *   <li>{@code sim_format: legacy}: {@code [{"choices":[{"tokens":[text]}],"usage":{"input":P,"output":C}}]};</li>
 *   <li>{@code sim_format: text}: {@code [{"text":"..."}]} (no usage); {@code sim_format: image}:
 *       {@code [{"image":"https://image.url","seed":46578}]} (no text).</li>
 * </ul>
 * Counts: the prompt is its whitespace-separated words (plus 4 per chat message and 3 for the reply, as chat
 * templates add); the completion is {@code max_tokens} (default 16) words, one token each.
 *
 * <p>Threading: stateless.
 */
final class SimOutput {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] WORDS = {" the", " model", " data", " stream", " token", " proxy", " worker",
        " request", " time", " value", " system", " first", " result", " server", " client", " queue", " price",
        " fast", " simple", " and", " of", " to", " in", " is", " for", " on", " with", " that", " this", " it"};
    /** Slice length of streamed yields: an SSE event rarely fits one slice exactly. */
    static final int SLICE = 97;

    private SimOutput() {
    }

    static JsonNode request(JsonNode input) {
        JsonNode oi = input.get("openai_input");
        return oi != null && oi.isObject() ? oi : input;
    }

    static long promptTokens(JsonNode input) {
        JsonNode req = request(input);
        JsonNode messages = req.get("messages");
        if (messages != null && messages.isArray()) {
            long t = 3;
            for (JsonNode m : messages) {
                t += 4 + words(m.path("content").asText(""));
            }
            return t;
        }
        return words(req.path("prompt").asText(""));
    }

    static long completionTokens(JsonNode input) {
        JsonNode sp = input.path("sampling_params");
        JsonNode req = request(input);
        for (JsonNode n : new JsonNode[] {sp.get("max_tokens"), input.get("max_tokens"), req.get("max_tokens")}) {
            if (n != null && n.canConvertToLong() && n.asLong() >= 0) {
                return Math.min(n.asLong(), 4096);
            }
        }
        return 16;
    }

    private static long words(String s) {
        String t = s.trim();
        return t.isEmpty() ? 0 : t.split("\\s+").length;
    }

    /** The words' seed: the prompt or messages (not the options, which a proxy may change). */
    static long seed(JsonNode input) {
        JsonNode req = request(input);
        JsonNode m = req.get("messages");
        return (m != null ? m.toString() : req.path("prompt").toString()).hashCode();
    }

    /** The completion text: {@code n} words chosen by the prompt's hash. */
    static String text(JsonNode input, long n) {
        long seed = seed(input);
        StringBuilder sb = new StringBuilder();
        for (long i = 0; i < n; i++) {
            sb.append(word(seed, i));
        }
        return sb.toString();
    }

    private static String word(long seed, long i) {
        long h = (seed * 31 + i) * 0x9E3779B97F4A7C15L;
        return WORDS[(int) Math.floorMod(h >>> 7, (long) WORDS.length)];
    }

    /** The job's yields, in order. */
    static List<JsonNode> yields(JsonNode input, String model) {
        long p = promptTokens(input);
        long c = completionTokens(input);
        String text = text(input, c);
        JsonNodeFactory f = JsonNodeFactory.instance;
        List<JsonNode> out = new ArrayList<>();
        String format = input.path("sim_format").asText("vllm");
        switch (format) {
            case "legacy" -> {
                ObjectNode y = f.objectNode();
                y.putArray("choices").addObject().putArray("tokens").add(text);
                y.put("cost", 0.0001);
                y.putObject("usage").put("input", p).put("output", c);
                out.add(y);
            }
            case "text" -> out.add(f.objectNode().put("text", text));
            case "image" -> out.add(f.objectNode().put("image", "https://image.url").put("seed", 46578));
            default -> {
                JsonNode req = request(input);
                boolean chat = req.has("messages");
                boolean stream = req.path("stream").asBoolean(false) || input.path("stream").asBoolean(false);
                if (stream) {
                    for (String slice : slices(sse(input, model, chat, p, c))) {
                        out.add(f.textNode(slice));
                    }
                } else {
                    out.add(body(model, chat, text, p, c));
                }
            }
        }
        return out;
    }

    private static ObjectNode body(String model, boolean chat, String text, long p, long c) {
        ObjectNode b = JsonNodeFactory.instance.objectNode();
        b.put("id", chat ? "chatcmpl-sim" : "cmpl-sim").put("object", chat ? "chat.completion" : "text_completion")
                .put("created", 1760000000).put("model", model);
        ObjectNode choice = b.putArray("choices").addObject().put("index", 0);
        if (chat) {
            choice.putObject("message").put("role", "assistant").put("content", text);
        } else {
            choice.put("text", text);
        }
        choice.putNull("logprobs");
        choice.put("finish_reason", "length");
        b.putObject("usage").put("prompt_tokens", p).put("total_tokens", p + c).put("completion_tokens", c);
        return b;
    }

    /** vLLM's SSE text for a streamed job: role chunk, one chunk per token, finish, usage chunk, [DONE]. */
    private static String sse(JsonNode input, String model, boolean chat, long p, long c) {
        JsonNode so = input.path("sampling_params").path("stream_options");
        if (so.isMissingNode()) {
            so = request(input).path("stream_options");
        }
        boolean usage = so.path("include_usage").asBoolean(false);
        boolean continuous = usage && so.path("continuous_usage_stats").asBoolean(false);
        StringBuilder sb = new StringBuilder();
        long seed = seed(input);
        if (chat) {
            sb.append(event(chunk(model, chat, "", true, null, continuous ? usage(p, 0) : null)));
        }
        for (long i = 0; i < c; i++) {
            String word = word(seed, i);
            sb.append(event(chunk(model, chat, word, false, i == c - 1 ? "length" : null,
                    continuous ? usage(p, i + 1) : null)));
        }
        if (usage) {
            ObjectNode u = JsonNodeFactory.instance.objectNode();
            u.put("id", chat ? "chatcmpl-sim" : "cmpl-sim").put("object", chat ? "chat.completion.chunk"
                    : "text_completion").put("created", 1760000000).put("model", model);
            u.putArray("choices");
            u.set("usage", usage(p, c));
            sb.append(event(u));
        }
        return sb.append("data: [DONE]\n\n").toString();
    }

    private static ObjectNode usage(long p, long c) {
        return JsonNodeFactory.instance.objectNode().put("prompt_tokens", p).put("total_tokens", p + c)
                .put("completion_tokens", c);
    }

    private static ObjectNode chunk(String model, boolean chat, String content, boolean role, String finish,
                                    ObjectNode usage) {
        ObjectNode ch = JsonNodeFactory.instance.objectNode();
        ch.put("id", chat ? "chatcmpl-sim" : "cmpl-sim").put("object", chat ? "chat.completion.chunk"
                : "text_completion").put("created", 1760000000).put("model", model);
        ArrayNode choices = ch.putArray("choices");
        ObjectNode choice = choices.addObject().put("index", 0);
        if (chat) {
            ObjectNode delta = choice.putObject("delta");
            if (role) {
                delta.put("role", "assistant");
            }
            delta.put("content", content);
        } else {
            choice.put("text", content);
        }
        choice.putNull("logprobs");
        if (finish == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finish);
        }
        if (usage != null) {
            ch.set("usage", usage);
        }
        return ch;
    }

    private static String event(JsonNode chunk) {
        try {
            return "data: " + JSON.writeValueAsString(chunk) + "\n\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<String> slices(String s) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < s.length(); i += SLICE) {
            out.add(s.substring(i, Math.min(s.length(), i + SLICE)));
        }
        return out;
    }
}
