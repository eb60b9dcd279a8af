package dev.tollgate.proxy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.tokens.TokenEstimator;
import java.util.ArrayList;
import java.util.List;

/**
 * The parts of a metered request body Tollgate needs: model, streaming, what usage the client asked for,
 * the token limit, and the text to estimate prompt tokens from. Built once per request on the event loop.
 */
public final class MeteredRequest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final Route route;
    private final ObjectNode body;
    private final String model;
    private final boolean stream;
    private final boolean clientWantsUsage;
    private final boolean clientWantsContinuous;
    private final long maxTokens;

    private MeteredRequest(Route route, ObjectNode body, String model, boolean stream, boolean clientWantsUsage,
                           boolean clientWantsContinuous, long maxTokens) {
        this.route = route;
        this.body = body;
        this.model = model;
        this.stream = stream;
        this.clientWantsUsage = clientWantsUsage;
        this.clientWantsContinuous = clientWantsContinuous;
        this.maxTokens = maxTokens;
    }

    /** Thrown for a body that is not a usable request; the message is fit for the client. */
    public static final class Invalid extends Exception {
        private static final long serialVersionUID = 1L;
        private final String param;

        Invalid(String message, String param) {
            super(message, null, false, false);
            this.param = param;
        }

        public String param() {
            return param;
        }
    }

    /** Parses and checks a metered request body. */
    public static MeteredRequest parse(Route route, byte[] json) throws Invalid {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new Invalid("We could not parse the JSON body of your request: " + e.getOriginalMessage(), null);
        } catch (java.io.IOException e) {
            throw new Invalid("We could not read the JSON body of your request.", null);
        }
        if (root == null || !root.isObject()) {
            throw new Invalid("The request body must be a JSON object.", null);
        }
        ObjectNode body = (ObjectNode) root;
        JsonNode m = body.get("model");
        if (m != null && !m.isTextual() && !m.isNull()) {
            throw new Invalid("'model' must be a string.", "model");
        }
        String model = m != null && m.isTextual() ? m.asText() : "";
        boolean stream = false;
        JsonNode s = body.get("stream");
        if (s != null && !s.isNull()) {
            if (!s.isBoolean()) {
                throw new Invalid("'stream' must be a boolean.", "stream");
            }
            stream = s.booleanValue();
        }
        boolean wantsUsage = false;
        boolean wantsContinuous = false;
        JsonNode so = body.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!so.isObject()) {
                throw new Invalid("'stream_options' must be an object.", "stream_options");
            }
            // vLLM: include_usage defaults to true once stream_options is present.
            JsonNode iu = so.get("include_usage");
            wantsUsage = iu == null || iu.isNull() || iu.asBoolean(false);
            JsonNode cu = so.get("continuous_usage_stats");
            wantsContinuous = wantsUsage && cu != null && cu.asBoolean(false);
        }
        long maxTokens = -1;
        for (String field : new String[] {"max_tokens", "max_completion_tokens"}) {
            JsonNode mt = body.get(field);
            if (mt != null && !mt.isNull()) {
                if (!mt.isIntegralNumber() || !mt.canConvertToLong() || mt.longValue() < 0) {
                    throw new Invalid("'" + field + "' must be a non-negative integer.", field);
                }
                maxTokens = mt.longValue();
            }
        }
        JsonNode nn = body.get("n");
        if (nn != null && !nn.isNull() && (!nn.isIntegralNumber() || !nn.canConvertToInt() || nn.intValue() < 1)) {
            throw new Invalid("'n' must be a positive integer.", "n");
        }
        switch (route) {
            case CHAT_COMPLETIONS -> {
                JsonNode msgs = body.get("messages");
                if (msgs == null || !msgs.isArray()) {
                    throw new Invalid("'messages' must be an array.", "messages");
                }
            }
            case COMPLETIONS -> {
                if (body.get("prompt") == null) {
                    throw new Invalid("'prompt' is required.", "prompt");
                }
            }
            case EMBEDDINGS -> {
                if (body.get("input") == null) {
                    throw new Invalid("'input' is required.", "input");
                }
            }
            default -> throw new IllegalStateException();
        }
        return new MeteredRequest(route, body, model, stream, wantsUsage, wantsContinuous, maxTokens);
    }

    public Route route() {
        return route;
    }

    public String model() {
        return model;
    }

    public boolean stream() {
        return stream;
    }

    public boolean clientWantsUsage() {
        return clientWantsUsage;
    }

    public boolean clientWantsContinuous() {
        return clientWantsContinuous;
    }

    /** {@code max_tokens} or {@code max_completion_tokens}, or -1. */
    public long maxTokens() {
        return maxTokens;
    }

    /**
     * The body to send upstream: for streams, {@code stream_options.include_usage} (and
     * {@code continuous_usage_stats} when the upstream supports it) are switched on so usage is exact even
     * when the client did not ask; other bodies are sent as received.
     */
    public byte[] upstreamBody(byte[] original, boolean continuousUsage) {
        if (!stream || (clientWantsUsage && (clientWantsContinuous || !continuousUsage))) {
            return original;
        }
        ObjectNode copy = body.deepCopy();
        ObjectNode so = copy.putObject("stream_options");
        so.put("include_usage", true);
        if (continuousUsage) {
            so.put("continuous_usage_stats", true);
        }
        try {
            return MAPPER.writeValueAsBytes(copy);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Estimated prompt tokens, with the chat framing for chat requests. */
    public long estimatePromptTokens(TokenEstimator estimator) {
        switch (route) {
            case CHAT_COMPLETIONS -> {
                List<String> contents = new ArrayList<>();
                for (JsonNode msg : body.get("messages")) {
                    contents.add(textOf(msg.get("content")));
                }
                return estimator.countChat(contents);
            }
            case COMPLETIONS -> {
                return estimator.count(textOf(body.get("prompt")));
            }
            default -> {
                return estimator.count(textOf(body.get("input")));
            }
        }
    }

    private static String textOf(JsonNode node) {
        if (node == null || node.isNull()) {
            return "";
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : node) {
                if (part.isTextual()) {
                    sb.append(part.asText()).append('\n');
                } else if (part.isObject() && part.get("text") != null) {
                    sb.append(part.get("text").asText()).append('\n');
                }
            }
            return sb.toString();
        }
        return node.toString();
    }
}
