package dev.tollgate.simulator;

/**
 * vLLM's Responses API shapes ({@code ResponsesResponse} and the openai-python stream event types, as
 * {@code model_dump_json} writes them: compact, fields in declaration order, nulls kept). Streamed events are
 * framed {@code event: <type>\ndata: <json>\n\n}; there is no {@code [DONE]}, and usage exists only in the
 * final {@code response.completed} (vLLM sends that event also when the response is incomplete). Stateless.
 */
final class ResponsesFormat {
    private ResponsesFormat() {
    }

    /** The response object; {@code output} and {@code usage} are JSON ({@code usage} may be "null"). */
    static String response(SimulatedCompletion sc, String id, long created, String model, String status,
                           String output, String usage) {
        String instructions = sc.body.hasNonNull("instructions")
                ? ChunkFormat.quote(sc.body.get("instructions").asText()) : "null";
        long maxOutput = sc.body.hasNonNull("max_output_tokens") ? sc.body.get("max_output_tokens").asLong()
                : 32768 - sc.promptTokens;
        return "{\"id\":\"" + id + "\",\"created_at\":" + created + ",\"incomplete_details\":"
                + (status.equals("incomplete") ? "{\"reason\":\"max_output_tokens\"}" : "null")
                + ",\"instructions\":" + instructions + ",\"metadata\":null,\"model\":" + ChunkFormat.quote(model)
                + ",\"object\":\"response\",\"output\":" + output + ",\"parallel_tool_calls\":true,\"temperature\":1.0,"
                + "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"background\":false,\"max_output_tokens\":"
                + maxOutput + ",\"max_tool_calls\":null,\"previous_response_id\":null,\"prompt\":null,\"reasoning\":null,"
                + "\"service_tier\":\"auto\",\"status\":\"" + status + "\",\"text\":null,\"top_logprobs\":null,"
                + "\"truncation\":\"disabled\",\"usage\":" + usage + ",\"user\":null}";
    }

    /** The non-streamed body: one assistant message with all the text, and usage. */
    static String body(SimulatedCompletion sc, String id, long created, String model) {
        String text = sc.text(0, 0, sc.completionTokens[0]);
        return response(sc, id, created, model, status(sc), "[" + message(sc, text, "completed") + "]", usage(sc));
    }

    static String status(SimulatedCompletion sc) {
        return sc.stoppedNaturally[0] ? "completed" : "incomplete";
    }

    static String messageId(SimulatedCompletion sc) {
        return "msg_" + Long.toHexString(sc.seed ^ 0x5bd1e995L);
    }

    static String message(SimulatedCompletion sc, String text, String status) {
        String content = text == null ? "[]" : "[{\"annotations\":[],\"text\":" + ChunkFormat.quote(text)
                + ",\"type\":\"output_text\",\"logprobs\":null}]";
        return "{\"id\":\"" + messageId(sc) + "\",\"content\":" + content + ",\"role\":\"assistant\",\"status\":\""
                + status + "\",\"type\":\"message\"}";
    }

    static String usage(SimulatedCompletion sc) {
        long p = sc.promptTokens;
        long c = sc.completionTokens[0];
        return "{\"input_tokens\":" + p + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + c
                + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (p + c) + "}";
    }

    static String event(String type, int seq, String fieldsBeforeSeq) {
        return "event: " + type + "\ndata: {" + fieldsBeforeSeq + ",\"sequence_number\":" + seq + ",\"type\":\"" + type
                + "\"}\n\n";
    }

    static String created(SimulatedCompletion sc, String id, long created, String model, String type, int seq) {
        return event(type, seq, "\"response\":" + response(sc, id, created, model, "in_progress", "[]", "null"));
    }

    static String itemAdded(SimulatedCompletion sc, int seq) {
        return event("response.output_item.added", seq, "\"item\":" + message(sc, null, "in_progress")
                + ",\"output_index\":0");
    }

    static String partAdded(SimulatedCompletion sc, int seq) {
        return event("response.content_part.added", seq, "\"content_index\":0,\"item_id\":\"" + messageId(sc)
                + "\",\"output_index\":0,\"part\":{\"annotations\":[],\"text\":\"\",\"type\":\"output_text\","
                + "\"logprobs\":[]}");
    }

    static String textDelta(SimulatedCompletion sc, int seq, String delta) {
        return event("response.output_text.delta", seq, "\"content_index\":0,\"delta\":" + ChunkFormat.quote(delta)
                + ",\"item_id\":\"" + messageId(sc) + "\",\"logprobs\":[],\"output_index\":0");
    }

    static String textDone(SimulatedCompletion sc, int seq, String text) {
        return event("response.output_text.done", seq, "\"content_index\":0,\"item_id\":\"" + messageId(sc)
                + "\",\"logprobs\":[],\"output_index\":0,\"text\":" + ChunkFormat.quote(text));
    }

    static String partDone(SimulatedCompletion sc, int seq, String text) {
        return event("response.content_part.done", seq, "\"content_index\":0,\"item_id\":\"" + messageId(sc)
                + "\",\"output_index\":0,\"part\":{\"annotations\":[],\"text\":" + ChunkFormat.quote(text)
                + ",\"type\":\"output_text\",\"logprobs\":null}");
    }

    static String itemDone(SimulatedCompletion sc, int seq, String text) {
        return event("response.output_item.done", seq, "\"item\":" + message(sc, text, "completed")
                + ",\"output_index\":0");
    }

    static String completed(SimulatedCompletion sc, String id, long created, String model, int seq, String text) {
        return event("response.completed", seq, "\"response\":" + response(sc, id, created, model, status(sc),
                "[" + message(sc, text, "completed") + "]", usage(sc)));
    }

    /** vLLM's error event in a Responses stream. */
    static String error(int seq) {
        return "event: error\ndata: {\"type\":\"error\",\"code\":\"InternalServerError\",\"message\":"
                + "\"Internal server error\",\"param\":null,\"sequence_number\":" + seq + "}\n\n";
    }
}
