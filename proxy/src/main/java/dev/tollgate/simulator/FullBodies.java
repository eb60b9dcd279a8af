package dev.tollgate.simulator;

/** Non-streamed response bodies, in vLLM's shapes ({@code model_dump()}: null fields kept). Stateless. */
final class FullBodies {
    private FullBodies() {
    }

    static String completion(SimulatedCompletion sc, String id, long created, String model) {
        boolean chat = sc.kind == SimulatedCompletion.Kind.CHAT;
        StringBuilder sb = new StringBuilder(512);
        sb.append("{\"id\":\"").append(id).append("\",\"object\":\"").append(chat ? "chat.completion" : "text_completion")
                .append("\",\"created\":").append(created).append(",\"model\":").append(ChunkFormat.quote(model))
                .append(",\"choices\":[");
        for (int c = 0; c < sc.choices(); c++) {
            if (c > 0) {
                sb.append(',');
            }
            String text = ChunkFormat.quote(sc.text(c, 0, sc.completionTokens[c]));
            sb.append("{\"index\":").append(c);
            if (chat) {
                sb.append(",\"message\":{\"role\":\"assistant\",\"content\":").append(text)
                        .append(",\"refusal\":null,\"annotations\":null,\"audio\":null,\"function_call\":null,"
                                + "\"reasoning\":null}");
            } else {
                sb.append(",\"text\":").append(text);
            }
            sb.append(",\"logprobs\":null,\"finish_reason\":\"").append(sc.finishReason(c))
                    .append("\",\"stop_reason\":null,\"token_ids\":null}");
        }
        sb.append("],\"service_tier\":null,\"system_fingerprint\":null,\"usage\":{\"prompt_tokens\":")
                .append(sc.promptTokens).append(",\"total_tokens\":").append(sc.promptTokens + sc.totalCompletionTokens())
                .append(",\"completion_tokens\":").append(sc.totalCompletionTokens())
                .append(",\"prompt_tokens_details\":null},\"prompt_logprobs\":null,\"prompt_token_ids\":null,"
                        + "\"kv_transfer_params\":null}");
        return sb.toString();
    }

    static String embeddings(SimulatedCompletion sc, String id, long created, String model) {
        int inputs = sc.body.get("input").isArray() ? Math.max(1, sc.body.get("input").size()) : 1;
        StringBuilder sb = new StringBuilder(256 + inputs * 96);
        sb.append("{\"id\":\"").append(id).append("\",\"object\":\"list\",\"created\":").append(created)
                .append(",\"model\":").append(ChunkFormat.quote(model)).append(",\"data\":[");
        for (int i = 0; i < inputs; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append("{\"index\":").append(i).append(",\"object\":\"embedding\",\"embedding\":[");
            for (int d = 0; d < 8; d++) {
                long h = Vocabulary.mix(sc.seed + i * 31L + d);
                // A deterministic value in (-1, 1) with four decimals, written as exact decimal text.
                long v = Math.floorMod(h, 20_000L) - 10_000L;
                sb.append(d > 0 ? "," : "").append(v < 0 ? "-" : "").append("0.")
                        .append(String.format("%04d", Math.abs(v) % 10_000));
            }
            sb.append("]}");
        }
        sb.append("],\"usage\":{\"prompt_tokens\":").append(sc.promptTokens).append(",\"total_tokens\":")
                .append(sc.promptTokens).append(",\"completion_tokens\":0,\"prompt_tokens_details\":null}}");
        return sb.toString();
    }
}
