package dev.tollgate.proxy.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.metering.tokens.TokenEstimator;
import java.util.ArrayList;
import java.util.List;

/**
 * Token usage of a finished RunPod job, from what its worker returned ({@code output} of {@code /status} or
 * {@code /runsync}), in this order:
 * <ol>
 *   <li>vLLM usage: {@code usage.prompt_tokens}/{@code completion_tokens} of the worker-vllm JSON body
 *       ({@code [{...,"usage":{...}}]}), or the highest usage of the SSE text slices a streaming job yielded
 *       (present when the job asked for {@code stream_options.include_usage});</li>
 *   <li>legacy usage: {@code usage: {input, output}} (legacy worker-vllm, public endpoints) or
 *       {@code input_tokens}/{@code output_tokens};</li>
 *   <li>an estimate with the tokenizer over the input's prompt and the returned text ({@code estimated});</li>
 *   <li>nothing (no text: an image job, say): 0 tokens, source {@code none}; only compute time
 *       ({@code per_second} x {@code executionTime}) and per-request prices apply.</li>
 * </ol>
 * A count that is not a plain non-negative JSON integer (at most 10^12) counts as not reported.
 *
 * <p>Threading: stateless; the tokenizer may take long on a large text: never call it on an event loop.
 */
final class JobUsage {
    /** Where a job's counts came from. */
    enum Kind {
        VLLM, LEGACY, ESTIMATED, NONE;

        UsageSource source() {
            return this == ESTIMATED ? UsageSource.ESTIMATED : this == NONE ? UsageSource.NONE : UsageSource.UPSTREAM;
        }
    }

    /** Counts and their source. */
    record Usage(long prompt, long completion, Kind kind) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_COUNT = 1_000_000_000_000L;

    private JobUsage() {
    }

    /** The usage of a job whose input was {@code input} and whose worker returned {@code output} (may be null). */
    static Usage of(JsonNode input, JsonNode output, TokenEstimator tokens) {
        Scan s = new Scan();
        s.walk(output);
        s.scanSse();
        if (s.vllmPrompt >= 0 || s.vllmCompletion >= 0) {
            return new Usage(Math.max(0, s.vllmPrompt), Math.max(0, s.vllmCompletion), Kind.VLLM);
        }
        if (s.legacyIn >= 0 || s.legacyOut >= 0) {
            return new Usage(Math.max(0, s.legacyIn), Math.max(0, s.legacyOut), Kind.LEGACY);
        }
        if (s.text.length() > 0) {
            return new Usage(promptEstimate(input, tokens), tokens.count(s.text), Kind.ESTIMATED);
        }
        return new Usage(0, 0, Kind.NONE);
    }

    /** The prompt's tokens as the tokenizer counts them: chat messages with their framing, or the prompt text. */
    static long promptEstimate(JsonNode input, TokenEstimator tokens) {
        JsonNode in = openAiInput(input);
        JsonNode messages = in.get("messages");
        if (messages != null && messages.isArray()) {
            List<String> contents = new ArrayList<>();
            for (JsonNode m : messages) {
                JsonNode c = m.get("content");
                contents.add(c == null ? "" : c.isTextual() ? c.asText() : c.toString());
            }
            return tokens.countChat(contents);
        }
        JsonNode prompt = in.get("prompt");
        return prompt == null ? 0 : tokens.count(prompt.isTextual() ? prompt.asText() : prompt.toString());
    }

    /** The part of a job input that holds the request: {@code openai_input} when present, else the input. */
    static JsonNode openAiInput(JsonNode input) {
        JsonNode oi = input == null ? null : input.get("openai_input");
        return oi != null && oi.isObject() ? oi : input == null ? JSON.createObjectNode() : input;
    }

    /** A plain non-negative JSON integer up to 10^12, else -1 (not reported). */
    static long count(JsonNode n) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong()) {
            return -1;
        }
        long v = n.asLong();
        return v < 0 || v > MAX_COUNT ? -1 : v;
    }

    /** One pass over the output: usage found, SSE text slices to re-frame, returned text. */
    private static final class Scan {
        long vllmPrompt = -1;
        long vllmCompletion = -1;
        long legacyIn = -1;
        long legacyOut = -1;
        final StringBuilder sse = new StringBuilder();
        final StringBuilder text = new StringBuilder();

        void walk(JsonNode output) {
            if (output == null || output.isNull()) {
                return;
            }
            if (output.isArray()) {
                for (JsonNode item : output) {
                    item(item, true);
                }
            } else {
                item(output, false);
            }
        }

        private void item(JsonNode item, boolean inList) {
            if (item.isTextual()) {
                // worker-vllm streams yield arbitrary slices of vLLM's SSE bytes: join them, frame on blank lines.
                if (inList) {
                    sse.append(item.asText());
                } else {
                    text.append(item.asText());
                }
                return;
            }
            if (!item.isObject()) {
                return;
            }
            JsonNode usage = item.get("usage");
            if (usage != null && usage.isObject()) {
                long p = count(usage.get("prompt_tokens"));
                long c = count(usage.get("completion_tokens"));
                if (p >= 0 || c >= 0) {
                    // One body per item (one request per job): items add up.
                    vllmPrompt = Math.max(0, vllmPrompt) + Math.max(0, p);
                    vllmCompletion = Math.max(0, vllmCompletion) + Math.max(0, c);
                }
                legacy(count(usage.get("input")), count(usage.get("output")));
            }
            legacy(count(item.get("input_tokens")), count(item.get("output_tokens")));
            texts(item);
        }

        /** Legacy counters are running totals per yield: the highest is the job's. */
        private void legacy(long in, long out) {
            legacyIn = Math.max(legacyIn, in);
            legacyOut = Math.max(legacyOut, out);
        }

        private void texts(JsonNode item) {
            JsonNode t = item.get("text");
            appendStrings(t);
            JsonNode choices = item.get("choices");
            if (choices != null && choices.isArray()) {
                for (JsonNode ch : choices) {
                    JsonNode msg = ch.get("message");
                    if (msg != null) {
                        appendStrings(msg.get("content"));
                        appendStrings(msg.get("reasoning_content"));
                        appendStrings(msg.get("reasoning"));
                    }
                    JsonNode delta = ch.get("delta");
                    if (delta != null) {
                        appendStrings(delta.get("content"));
                        appendStrings(delta.get("reasoning_content"));
                        appendStrings(delta.get("reasoning"));
                    }
                    appendStrings(ch.get("text"));
                    appendStrings(ch.get("tokens"));
                }
            }
        }

        private void appendStrings(JsonNode n) {
            if (n == null) {
                return;
            }
            if (n.isTextual()) {
                text.append(n.asText());
            } else if (n.isArray()) {
                for (JsonNode e : n) {
                    if (e.isTextual()) {
                        text.append(e.asText());
                    }
                }
            }
        }

        /** The joined SSE slices: each {@code data:} event's usage (highest wins, never summed) and text. */
        void scanSse() {
            if (sse.length() == 0) {
                return;
            }
            if (sse.indexOf("data:") < 0) {
                text.append(sse); // Plain strings a handler yielded, not SSE.
                return;
            }
            long p = -1;
            long c = -1;
            for (String event : sse.toString().split("\n\n")) {
                for (String line : event.split("\n")) {
                    if (!line.startsWith("data:")) {
                        continue;
                    }
                    String data = line.substring(5).trim();
                    if (data.isEmpty() || data.equals("[DONE]")) {
                        continue;
                    }
                    JsonNode chunk;
                    try {
                        chunk = JSON.readTree(data);
                    } catch (java.io.IOException e) {
                        continue; // A slice cut short (the job failed mid-stream): its text is lost to the estimate.
                    }
                    if (chunk == null || !chunk.isObject()) {
                        continue;
                    }
                    JsonNode usage = chunk.get("usage");
                    if (usage != null && usage.isObject()) {
                        p = Math.max(p, count(usage.get("prompt_tokens")));
                        c = Math.max(c, count(usage.get("completion_tokens")));
                    }
                    texts(chunk);
                }
            }
            if (p >= 0 || c >= 0) {
                vllmPrompt = Math.max(vllmPrompt, p);
                vllmCompletion = Math.max(vllmCompletion, c);
            }
        }
    }
}
