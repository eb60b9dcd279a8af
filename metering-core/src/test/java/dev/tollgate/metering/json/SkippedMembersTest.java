package dev.tollgate.metering.json;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * What the scanner jumps over never changes what it reads: usage, choices and delivered text come out the same
 * whatever the members it ignores hold (nesting, escaped quotes and backslashes, unicode escapes, text that
 * looks like usage), and a payload that is broken inside an ignored member is still refused.
 */
class SkippedMembersTest {
    /** Collects delivered text. */
    static final class Text implements ChunkScanner.TextSink {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        @Override
        public void append(byte[] b, int off, int len) {
            out.write(b, off, len);
        }

        @Override
        public void append(byte b) {
            out.write(b);
        }

        String text() {
            return out.toString(StandardCharsets.UTF_8);
        }
    }

    private static ChunkScanner scan(String json, Text text) {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        // Bytes after the payload's end must not be read: fill them with what would confuse a scan.
        byte[] padded = Arrays.copyOf(b, b.length + 16);
        Arrays.fill(padded, b.length, padded.length, (byte) '"');
        ChunkScanner s = new ChunkScanner();
        assertEquals(s.scan(b, 0, b.length, null), s.scan(padded, 0, b.length, null), json);
        s.scan(padded, 0, b.length, text);
        return s;
    }

    @Test
    void nestedIgnoredMembersAroundTheReadOnesChangeNothing() {
        String chunk = "{\"id\":\"chatcmpl-\\\"x\\\\\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
                + "\"model\":\"m\\u0022\",\"prompt_logprobs\":[null,{\"7\":{\"logprob\":-0.1,\"decoded_token\":\"}]\\\"\"}}],"
                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" ok\\u00e9\\ud83d\\ude00\"},"
                + "\"logprobs\":{\"content\":[{\"token\":\"\\\\\",\"bytes\":[92],\"top_logprobs\":[{\"token\":\"{\","
                + "\"logprob\":-1e-3}]}]},\"finish_reason\":null,\"stop_reason\":[\"\\\"]\"]}],"
                + "\"kv_transfer_params\":{\"usage\":{\"prompt_tokens\":999,\"completion_tokens\":999}},"
                + "\"usage\":{\"prompt_tokens\":42,\"total_tokens\":43,\"prompt_tokens_details\":{\"cached_tokens\":[1,{}]},"
                + "\"completion_tokens\":1}}";
        Text text = new Text();
        ChunkScanner s = scan(chunk, text);
        assertTrue(s.scan(chunk.getBytes(StandardCharsets.UTF_8), 0, chunk.length(), null));
        assertEquals(42, s.promptTokens());
        assertEquals(1, s.completionTokens());
        assertEquals(1, s.choicesCount());
        assertEquals(" ok\u00e9\ud83d\ude00", text.text());
        assertFalse(s.error());
        // The usage member (with the comma before it) is the payload's last 101 bytes but the closing brace.
        String usage = chunk.substring(chunk.lastIndexOf(",\"usage\":"), chunk.length() - 1);
        assertEquals(chunk.length() - 1 - usage.length(), s.usageStripStart());
        assertEquals(chunk.length() - 1, s.usageStripEnd());
    }

    @Test
    void usageInsideIgnoredMembersAndStringsIsNotUsage() {
        String chunk = "{\"model\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":5}\",\"logprobs\":{\"usage\":{\"prompt_tokens\":5}},"
                + "\"x\":[{\"usage\":{\"completion_tokens\":5}}],\"choices\":[]}";
        ChunkScanner s = scan(chunk, new Text());
        assertFalse(s.usagePresent());
        assertEquals(-1, s.promptTokens());
        assertTrue(s.choicesPresent());
        assertEquals(0, s.choicesCount());
    }

    @Test
    void aNameWrittenWithEscapesIsNotTheName() {
        for (String name : new String[] {"us\\u0061ge", "\\u0075sage", "usag\\u0065", "completion_toke\\u006es"}) {
            String chunk = "{\"" + name + "\":{\"prompt_tokens\":5},\"usage\":{\"" + name + "\":3,\"prompt_tokens\":2}}";
            ChunkScanner s = scan(chunk, new Text());
            assertEquals(2, s.promptTokens(), name);
            assertEquals(-1, s.completionTokens(), name);
        }
    }

    @Test
    void brokenJsonInsideAnIgnoredMemberIsRefused() {
        String[] broken = {
            "{\"logprobs\":{\"a\":[1}],\"usage\":{\"prompt_tokens\":5}}",
            "{\"logprobs\":[{\"a\":1]},\"usage\":{\"prompt_tokens\":5}}",
            "{\"id\":\"abc\\\",\"usage\":{\"prompt_tokens\":5}}",
            "{\"id\":\"abc\\\\\\\",\"usage\":{\"prompt_tokens\":5}}",
            "{\"logprobs\":{\"a\":\"}\",\"usage\":{\"prompt_tokens\":5}}",
            "{\"created\":--1,\"usage\":{\"prompt_tokens\":5}}",
            "{\"created\":nul,\"usage\":{\"prompt_tokens\":5}}",
            "{\"logprobs\":" + "[".repeat(100) + "]".repeat(100) + ",\"usage\":{\"prompt_tokens\":5}}",
        };
        for (String chunk : broken) {
            byte[] b = chunk.getBytes(StandardCharsets.UTF_8);
            assertFalse(new ChunkScanner().scan(b, 0, b.length, null), chunk);
        }
    }

    @Test
    void randomIgnoredMembersNeverChangeWhatIsRead() {
        RandomJson gen = new RandomJson(11);
        for (int round = 0; round < 5_000; round++) {
            StringBuilder expectedText = new StringBuilder();
            long prompt = gen.nextInt(100_000);
            long completion = gen.nextInt(100_000);
            String chunk = RandomChunks.chunk(gen, prompt, completion, expectedText);
            Text text = new Text();
            ChunkScanner s = scan(chunk, text);
            byte[] b = chunk.getBytes(StandardCharsets.UTF_8);
            assertTrue(new ChunkScanner().scan(b, 0, b.length, null), chunk);
            assertEquals(prompt, s.promptTokens(), chunk);
            assertEquals(completion, s.completionTokens(), chunk);
            assertEquals(1, s.choicesCount(), chunk);
            assertEquals(expectedText.toString(), text.text(), chunk);
        }
    }
}
