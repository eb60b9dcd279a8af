package dev.tollgate.proxy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.TraceLink;
import dev.tollgate.metering.tokens.TokenEstimator;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;

/**
 * The parts of a metered request body Tollgate needs: model, streaming, what usage the client asked for,
 * the request's worst case (completion limit and number of choices), and the text to estimate prompt tokens
 * from (parsed again only when asked). Built once per request on the event loop from the body's top level
 * ({@link RequestTopLevel}); immutable.
 *
 * <p>Worst case: the completion limit is {@code max_completion_tokens} when present, else {@code max_tokens}
 * (chat, as vLLM's {@code ChatCompletionRequest.build_tok_params}); {@code max_tokens} for completions;
 * {@code max_output_tokens} for the Responses API. Every choice may reach it: {@link #choices()} is
 * max({@code n}, {@code best_of}, 1). A limit or choice count that is not a whole number, or whose product
 * exceeds {@link #MAX_WORST_CASE_TOKENS}, is refused ({@link Invalid}) before any money or upstream is touched.
 *
 * <p>Trace: the body's {@code metadata} object names the request's Langfuse trace as LiteLLM does
 * ({@code trace_id} or {@code existing_trace_id}, with {@code session_id}, {@code trace_user_id}, {@code tags},
 * {@code generation_name}); read with the top level ({@link RequestTopLevel}), never an error (a
 * {@code metadata} of another shape names no trace). The body, {@code metadata} included, is forwarded as
 * received: vLLM accepts unknown top-level fields and ignores them.
 */
public final class MeteredRequest {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    /** The largest worst case (completion limit x choices) a request may ask for, in tokens. */
    public static final long MAX_WORST_CASE_TOKENS = 10_000_000_000L;

    private final Route route;
    /** The body as received (null on a per-request route): parsed again, whole, only to estimate prompt tokens. */
    private final byte[] json;
    private final String model;
    private final boolean stream;
    private final boolean clientWantsUsage;
    private final boolean clientWantsContinuous;
    private final long maxTokens;
    private final int choices;
    private final TraceLink trace;

    private MeteredRequest(Route route, byte[] json, String model, boolean stream, boolean clientWantsUsage,
                           boolean clientWantsContinuous, long maxTokens, int choices, TraceLink trace) {
        this.route = route;
        this.json = json;
        this.model = model;
        this.stream = stream;
        this.clientWantsUsage = clientWantsUsage;
        this.clientWantsContinuous = clientWantsContinuous;
        this.maxTokens = maxTokens;
        this.choices = choices;
        this.trace = trace;
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

    /**
     * A request on a path priced per request: the body is not parsed, the record's model is the price key
     * (the path), the worst case is 0 tokens (so a lock is the per-request price), nothing is injected and
     * nothing hidden from the client.
     */
    public static MeteredRequest perRequest(String pricePath) {
        return new MeteredRequest(Route.PER_REQUEST, null, pricePath, false, true, true, 0, 1, null);
    }

    /** Parses and checks a token-metered request body. */
    public static MeteredRequest parse(Route route, byte[] json) throws Invalid {
        if (route == Route.PER_REQUEST) {
            throw new IllegalArgumentException("per-request routes are not parsed");
        }
        ObjectNode body;
        try {
            body = RequestTopLevel.read(MAPPER, json);
        } catch (JsonProcessingException e) {
            throw new Invalid("We could not parse the JSON body of your request: " + e.getOriginalMessage(), null);
        } catch (java.io.IOException e) {
            throw new Invalid("We could not read the JSON body of your request.", null);
        }
        if (body == null) {
            throw new Invalid("The request body must be a JSON object.", null);
        }
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
        if (route == Route.RESPONSES) {
            // Nothing is injected on this route (usage always comes in response.completed): hide nothing.
            wantsUsage = true;
            wantsContinuous = true;
        } else {
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
        }
        String limitField = null;
        BigInteger limit = null;
        for (String field : limitFields(route, body)) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull()) {
                BigInteger n = wholeNumber(v);
                if (n == null || n.signum() < 0) {
                    throw new Invalid("'" + field + "' must be a non-negative integer.", field);
                }
                if (limit == null) {
                    limit = n;
                    limitField = field;
                }
            }
        }
        String choicesField = null;
        BigInteger choiceCount = BigInteger.ONE;
        if (route == Route.CHAT_COMPLETIONS || route == Route.COMPLETIONS) {
            for (String field : new String[] {"n", "best_of"}) {
                JsonNode v = body.get(field);
                if (v != null && !v.isNull()) {
                    BigInteger n = wholeNumber(v);
                    if (n == null || n.signum() <= 0) {
                        throw new Invalid("'" + field + "' must be a positive integer.", field);
                    }
                    if (n.compareTo(choiceCount) > 0) {
                        choiceCount = n;
                        choicesField = field;
                    }
                }
            }
        }
        if (choiceCount.compareTo(BigInteger.valueOf(Integer.MAX_VALUE)) > 0) {
            throw new Invalid("'" + choicesField + "' is too large.", choicesField);
        }
        BigInteger cap = BigInteger.valueOf(MAX_WORST_CASE_TOKENS);
        BigInteger worst = (limit == null ? BigInteger.ONE : limit).multiply(choiceCount);
        if (worst.compareTo(cap) > 0) {
            boolean limitAlone = limit != null && (limit.compareTo(cap) > 0 || choicesField == null);
            String param = limitAlone ? limitField : choicesField;
            throw new Invalid("The request's worst case, " + (limit == null ? "" : "'" + limitField + "' (" + limit
                    + ") x ") + "choices (" + choiceCount + "), exceeds " + MAX_WORST_CASE_TOKENS
                    + " tokens; lower '" + param + "'.", param);
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
            case RESPONSES -> {
                JsonNode input = body.get("input");
                if (input == null || !(input.isTextual() || input.isArray())) {
                    throw new Invalid("'input' must be a string or an array of input items.", "input");
                }
                JsonNode instructions = body.get("instructions");
                if (instructions != null && !instructions.isNull() && !instructions.isTextual()) {
                    throw new Invalid("'instructions' must be a string.", "instructions");
                }
            }
            default -> throw new IllegalStateException();
        }
        return new MeteredRequest(route, json, model, stream, wantsUsage, wantsContinuous,
                limit == null ? -1 : limit.longValueExact(), choiceCount.intValueExact(),
                TraceLinking.fromMetadata(body.get("metadata")));
    }

    /** The trace the body's {@code metadata} names, or null. */
    public TraceLink trace() {
        return trace;
    }

    /** The completion-limit fields of a route, the one that wins first. */
    private static String[] limitFields(Route route, ObjectNode body) {
        return switch (route) {
            case RESPONSES -> new String[] {"max_output_tokens"};
            case COMPLETIONS -> new String[] {"max_tokens"};
            // vLLM chat: max_completion_tokens when it is not null, else max_tokens.
            default -> new String[] {"max_completion_tokens", "max_tokens"};
        };
    }

    /**
     * A JSON number with an integral value (5, 5.0, 1e3; as pydantic accepts for an int), else null. These are
     * token counts, never money: a binary float is exact for every integer up to 2^53, and any limit above 10^10
     * is refused anyway.
     */
    private static BigInteger wholeNumber(JsonNode v) {
        if (v.isIntegralNumber()) {
            return v.bigIntegerValue();
        }
        if (v.isBigDecimal()) {
            BigDecimal b = v.decimalValue().stripTrailingZeros();
            return b.scale() <= 0 ? b.toBigIntegerExact() : null;
        }
        if (v.isFloatingPointNumber()) {
            double d = v.doubleValue();
            return Double.isFinite(d) && d == Math.rint(d) ? new BigDecimal(d).toBigIntegerExact() : null;
        }
        return null;
    }

    public Route route() {
        return route;
    }

    /** The requested model; for {@link Route#PER_REQUEST}, the path that is the price key. */
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

    /**
     * The completion limit that applies ({@code max_completion_tokens}, {@code max_tokens} or
     * {@code max_output_tokens}, see the class comment), or -1 when the request sets none; 0 on a per-request
     * route. It is per choice: the request's worst case is {@code maxTokens() x choices()}.
     */
    public long maxTokens() {
        return maxTokens;
    }

    /** How many completions the request may generate: max({@code n}, {@code best_of}, 1). */
    public int choices() {
        return choices;
    }

    /**
     * The body to send upstream: for chat and completions streams, {@code stream_options.include_usage} (and
     * {@code continuous_usage_stats} when the upstream supports it) are switched on so usage is exact even
     * when the client did not ask; other bodies are sent as received. Only the {@code stream_options} member
     * changes: every other byte is the client's ({@link StreamOptionsSplice}).
     */
    public byte[] upstreamBody(byte[] original, boolean continuousUsage) {
        if (route == Route.RESPONSES || route == Route.PER_REQUEST || !stream
                || (clientWantsUsage && (clientWantsContinuous || !continuousUsage))) {
            return original;
        }
        return StreamOptionsSplice.apply(original, continuousUsage);
    }

    /**
     * Estimated prompt tokens: with the chat framing for chat; instructions and input for responses. Parses the body
     * whole (only a response without usage needs it).
     */
    public long estimatePromptTokens(TokenEstimator estimator) {
        if (route == Route.PER_REQUEST) {
            return 0;
        }
        JsonNode body;
        try {
            body = MAPPER.readTree(json);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("a body parsed at admission no longer parses", e);
        }
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
            case RESPONSES -> {
                List<String> contents = new ArrayList<>();
                JsonNode instructions = body.get("instructions");
                if (instructions != null && instructions.isTextual()) {
                    contents.add(instructions.asText());
                }
                JsonNode input = body.get("input");
                if (input.isTextual()) {
                    contents.add(input.asText());
                } else {
                    for (JsonNode item : input) {
                        contents.add(itemText(item));
                    }
                }
                return estimator.countChat(contents);
            }
            case PER_REQUEST -> {
                return 0;
            }
            default -> {
                return estimator.count(textOf(body.get("input")));
            }
        }
    }

    /** The text of one Responses API input item: a message's content, a tool output, call arguments. */
    private static String itemText(JsonNode item) {
        if (item.isTextual()) {
            return item.asText();
        }
        StringBuilder sb = new StringBuilder();
        for (String f : new String[] {"content", "text", "output", "arguments"}) {
            JsonNode v = item.get(f);
            if (v != null && !v.isNull()) {
                sb.append(textOf(v));
            }
        }
        return sb.toString();
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
