package dev.tollgate.simulator;

import dev.tollgate.proxy.http.Json;

/**
 * vLLM's JSON shapes, written by hand in vLLM's key order and compact form (pydantic
 * {@code model_dump_json}), so the bytes look like a real server's. Stateless.
 */
final class ChunkFormat {
    private ChunkFormat() {
    }

    static String head(SimulatedCompletion sc, String id, long created, String model) {
        String object = sc.kind == SimulatedCompletion.Kind.CHAT ? "chat.completion.chunk" : "text_completion";
        return "{\"id\":\"" + id + "\",\"object\":\"" + object + "\",\"created\":" + created + ",\"model\":"
                + quote(model) + ",\"choices\":[";
    }

    static String roleChunk(String head, int choice, String usage) {
        return "data: " + head + "{\"index\":" + choice + ",\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                + "\"logprobs\":null,\"finish_reason\":null}]" + usage + "}\n\n";
    }

    static String contentChunk(SimulatedCompletion sc, String head, int choice, String text, String finish,
                               String usage) {
        StringBuilder sb = new StringBuilder(head.length() + text.length() + 128);
        sb.append("data: ").append(head).append("{\"index\":").append(choice);
        if (sc.kind == SimulatedCompletion.Kind.CHAT) {
            sb.append(",\"delta\":{\"content\":").append(quote(text)).append("},\"logprobs\":null,\"finish_reason\":");
            if (finish == null) {
                sb.append("null}]");
            } else {
                sb.append('"').append(finish).append("\",\"stop_reason\":null}]");
            }
        } else {
            sb.append(",\"text\":").append(quote(text)).append(",\"logprobs\":null,\"finish_reason\":");
            sb.append(finish == null ? "null" : "\"" + finish + "\"").append(",\"stop_reason\":null}]");
        }
        return sb.append(usage).append("}\n\n").toString();
    }

    static String usageChunk(String head, long prompt, long completion) {
        return "data: " + head + "]" + usageMember(prompt, completion) + "}\n\n";
    }

    static String usageMember(long prompt, long completion) {
        return ",\"usage\":{\"prompt_tokens\":" + prompt + ",\"total_tokens\":" + (prompt + completion)
                + ",\"completion_tokens\":" + completion + "}";
    }

    /** The error event vLLM sends mid-stream ({@code json.dumps} spacing). */
    static final String MIDSTREAM_ERROR = "data: {\"error\": {\"message\": \"Internal server error\", \"type\": "
            + "\"InternalServerError\", \"param\": null, \"code\": 500}}\n\n";

    static final String DONE = "data: [DONE]\n\n";

    /** vLLM's nested error envelope (0.10.1 and later). */
    static String error(String message, String type, String param, int code) {
        return "{\"error\":{\"message\":" + quote(message) + ",\"type\":\"" + type + "\",\"param\":"
                + (param == null ? "null" : quote(param)) + ",\"code\":" + code + "}}";
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2);
        Json.appendString(sb, s);
        return sb.toString();
    }
}
