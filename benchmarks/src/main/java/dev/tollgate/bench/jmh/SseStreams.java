package dev.tollgate.bench.jmh;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Realistic vLLM streams as bytes: one token per event, with continuous usage, as vLLM writes them. */
final class SseStreams {
    private SseStreams() {
    }

    static byte[] chatStream(int tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(tokens * 260);
        String head = "data: {\"id\":\"chatcmpl-8f2a91c3d4e5\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
                + "\"model\":\"Qwen/Qwen3-8B\",\"choices\":[{\"index\":0,\"delta\":{";
        write(out, head + "\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],"
                + "\"usage\":{\"prompt_tokens\":42,\"total_tokens\":42,\"completion_tokens\":0}}\n\n");
        String[] words = {" the", " model", " streams", " tokens", " to", " a", " client", " that", " pays"};
        for (int i = 1; i <= tokens; i++) {
            write(out, head + "\"content\":\"" + words[i % words.length] + "\"},\"logprobs\":null,\"finish_reason\":null}],"
                    + "\"usage\":{\"prompt_tokens\":42,\"total_tokens\":" + (42 + i) + ",\"completion_tokens\":" + i + "}}\n\n");
        }
        write(out, "data: {\"id\":\"chatcmpl-8f2a91c3d4e5\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
                + "\"model\":\"Qwen/Qwen3-8B\",\"choices\":[],\"usage\":{\"prompt_tokens\":42,\"total_tokens\":"
                + (42 + tokens) + ",\"completion_tokens\":" + tokens + "}}\n\ndata: [DONE]\n\n");
        return out.toByteArray();
    }

    /** Offsets of event boundaries, for cutting a stream into reads of whole events. */
    static int[] eventEnds(byte[] s) {
        int n = 0;
        for (int i = 1; i < s.length; i++) {
            if (s[i] == '\n' && s[i - 1] == '\n') {
                n++;
            }
        }
        int[] ends = new int[n];
        int k = 0;
        for (int i = 1; i < s.length; i++) {
            if (s[i] == '\n' && s[i - 1] == '\n') {
                ends[k++] = i + 1;
            }
        }
        return ends;
    }

    private static void write(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
    }
}
