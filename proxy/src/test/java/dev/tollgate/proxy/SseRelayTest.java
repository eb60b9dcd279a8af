package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.Route;
import dev.tollgate.metering.StreamMeter;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The metered SSE relay on its own: what the client is sent for each way an upstream may cut its stream into
 * reads, what is held for after the journal, and that every buffer is freed. Buffers come from an
 * instrumented allocator, so "nothing held" is checked exactly, not only by the leak detector.
 */
class SseRelayTest {
    private static final String HEAD = "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
            + "\"model\":\"m\",\"choices\":[";
    private static final String DONE = "data: [DONE]\n\n";

    private final UnpooledByteBufAllocator alloc = new UnpooledByteBufAllocator(true);
    private final List<ByteBuf> sent = new ArrayList<>();
    private final List<ByteBuf> inputs = new ArrayList<>();
    private StreamMeter meter;
    private SseRelay relay;

    private static String chunk(String content, String usage) {
        return "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"" + content
                + "\"},\"logprobs\":null,\"finish_reason\":null}]" + usage + "}\n\n";
    }

    private static String usage(long completion) {
        return ",\"usage\":{\"prompt_tokens\":5,\"total_tokens\":" + (5 + completion) + ",\"completion_tokens\":"
                + completion + "}";
    }

    private static String usageOnly(long completion) {
        return "data: " + HEAD + "]" + usage(completion) + "}\n\n";
    }

    private void start(boolean wantsUsage, boolean wantsContinuous, int maxEventBytes) {
        meter = new StreamMeter();
        meter.reset(Route.CHAT_COMPLETIONS, wantsUsage, wantsContinuous);
        meter.onResponseStart(200, true, 0);
        relay = new SseRelay(meter, alloc, maxEventBytes, sent::add);
    }

    private ByteBuf read(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        ByteBuf buf = alloc.directBuffer(b.length).writeBytes(b);
        inputs.add(buf);
        relay.onData(buf, 1);
        return buf;
    }

    private String sentText() {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (ByteBuf b : sent) {
            byte[] a = new byte[b.readableBytes()];
            b.getBytes(b.readerIndex(), a);
            o.writeBytes(a);
        }
        return o.toString(StandardCharsets.UTF_8);
    }

    private String tailText() {
        ByteBuf t = relay.takeTail();
        if (t == null) {
            return "";
        }
        String s = t.toString(StandardCharsets.UTF_8);
        t.release();
        return s;
    }

    @AfterEach
    void everyBufferIsFreed() {
        for (ByteBuf b : sent) {
            b.release();
        }
        relay.release();
        for (ByteBuf b : inputs) {
            assertEquals(0, b.refCnt(), "an upstream buffer is still referenced");
        }
        assertEquals(0, alloc.metric().usedDirectMemory(), "direct memory still held");
        assertEquals(0, alloc.metric().usedHeapMemory(), "heap memory still held");
    }

    @Test
    void wholeEventsPerReadAreForwardedAsTheUpstreamsOwnBuffers() {
        start(true, true, 1 << 20);
        ByteBuf first = read(chunk("a", usage(1)));
        ByteBuf second = read(chunk("b", usage(2)));
        assertEquals(2, sent.size());
        assertSame(first, sent.get(0), "no copy, no slice");
        assertSame(second, sent.get(1));
        assertEquals(0, relay.heldBytes());
        read(DONE);
        relay.onEnd();
        assertEquals(2, sent.size(), "[DONE] waits for the journal");
        assertEquals(DONE, tailText());
    }

    @Test
    void manyEventsInOneReadGoOutAsOneBuffer() {
        start(true, true, 1 << 20);
        String three = chunk("a", usage(1)) + chunk("b", usage(2)) + chunk("c", usage(3));
        ByteBuf in = read(three);
        assertEquals(1, sent.size());
        assertSame(in, sent.get(0));
        assertEquals(three, sentText());
    }

    @Test
    void anEventSplitAtEveryPointIsHeldUntilItEndsThenSentWhole() {
        String a = chunk("hello", usage(1));
        String b = chunk(" world", usage(2));
        String stream = a + b + DONE;
        for (int cut = 1; cut < stream.length(); cut++) {
            start(true, true, 1 << 20);
            read(stream.substring(0, cut));
            long held = relay.heldBytes();
            String partSent = sentText();
            // What was sent is exactly the complete events before the cut; the rest is held.
            String expectSent = cut >= a.length() + b.length() ? a + b : cut >= a.length() ? a : "";
            assertEquals(expectSent, partSent, "cut at " + cut);
            assertTrue(held <= Math.max(a.length(), DONE.length()) + b.length(), "held " + held);
            read(stream.substring(cut));
            relay.onEnd();
            assertEquals(a + b, sentText(), "cut at " + cut);
            assertEquals(DONE, tailText(), "cut at " + cut);
            everyBufferIsFreed();
            sent.clear();
            inputs.clear();
        }
    }

    @Test
    void injectedUsageIsStrippedAndTheUsageOnlyChunkDroppedByteExactly() {
        start(false, false, 1 << 20);
        String upstream = chunk("x", usage(1)) + ": keep-alive comment\n\n" + chunk("y", usage(2)) + usageOnly(2) + DONE;
        String expected = chunk("x", "") + ": keep-alive comment\n\n" + chunk("y", "");
        // In one read, and cut inside the stripped member.
        read(upstream);
        relay.onEnd();
        assertEquals(expected, sentText());
        assertEquals(1, sent.size(), "one buffer per read");
        assertEquals(DONE, tailText());
        assertEquals(2, meter.upstreamCompletionTokens());
    }

    @Test
    void strippingAcrossReadsMatchesTheOneReadResult() {
        String upstream = chunk("x", usage(1)) + chunk("y", usage(2)) + usageOnly(2) + DONE;
        String expected = chunk("x", "") + chunk("y", "");
        for (int cut = 1; cut < upstream.length(); cut += 7) {
            start(true, false, 1 << 20);
            read(upstream.substring(0, cut));
            read(upstream.substring(cut));
            relay.onEnd();
            assertEquals(expected + usageOnly(2), sentText(), "cut at " + cut);
            assertEquals(DONE, tailText());
            everyBufferIsFreed();
            sent.clear();
            inputs.clear();
        }
    }

    @Test
    void anEventPastTheBoundEndsFilteringAndTheRestPassesUnchanged() {
        start(false, false, 256);
        String small = chunk("x", usage(1));
        String big = "data: " + HEAD + "{\"index\":0,\"delta\":{\"content\":\"" + "z".repeat(1000) + "\"}}]}\n\n";
        String after = chunk("y", usage(2)) + usageOnly(2);
        read(small + big.substring(0, 100));
        assertEquals(chunk("x", ""), sentText());
        for (int i = 100; i < big.length(); i += 100) {
            read(big.substring(i, Math.min(big.length(), i + 100)));
            assertTrue(relay.heldBytes() <= 256 + 100, "held " + relay.heldBytes());
        }
        assertTrue(relay.passThrough());
        read(after);
        read(DONE);
        relay.onEnd();
        // Past the bound nothing is filtered any more: the client gets the upstream's bytes as they are, except
        // that [DONE] still waits for the journal.
        assertEquals(chunk("x", "") + big + after, sentText());
        assertEquals(DONE, tailText());
        assertEquals(0, relay.heldBytes());
    }

    @Test
    void pastTheBoundADoneSplitAcrossReadsIsStillHeldFromTheReadThatCompletesIt() {
        start(false, false, 64);
        String big = "data: " + "y".repeat(200);
        read(big);
        assertTrue(relay.passThrough());
        read("\n\n" + chunk("a", "") + "data: [DO");
        read("NE]\n\n");
        relay.onEnd();
        assertEquals(big + "\n\n" + chunk("a", "") + "data: [DO", sentText());
        assertEquals("NE]\n\n", tailText());
    }

    @Test
    void everythingAfterDoneIsHeldAsTheTail() {
        start(true, true, 1 << 20);
        read(chunk("a", usage(1)) + DONE + ": trailing");
        read(" comment\n\n");
        read("garbage without an end");
        relay.onEnd();
        assertEquals(chunk("a", usage(1)), sentText());
        assertTrue(relay.doneSeen());
        assertEquals(DONE + ": trailing comment\n\ngarbage without an end", tailText());
    }

    @Test
    void whatFollowsDoneIsHeldOnlyUpToTheBound() {
        start(true, true, 64);
        read(chunk("a", usage(1)) + DONE);
        for (int i = 0; i < 100; i++) {
            read(": after the end " + i + "\n\n");
            // The tail and the (comment-only) event in progress, each within the bound.
            assertTrue(relay.heldBytes() <= 2 * 64, "held " + relay.heldBytes());
        }
        relay.onEnd();
        assertEquals(chunk("a", usage(1)), sentText());
        String tail = tailText();
        assertTrue(tail.startsWith(DONE) && tail.length() == 64, tail);
    }

    @Test
    void aStreamEndingInsideAnEventSendsTheRest() {
        start(true, true, 1 << 20);
        read(chunk("a", usage(1)) + "data: {\"cut");
        relay.onEnd();
        assertEquals(chunk("a", usage(1)) + "data: {\"cut", sentText());
        assertFalse(relay.doneSeen());
    }

    @Test
    void releaseFreesAPartialEventAndLaterInput() {
        start(false, false, 1 << 20);
        read(chunk("a", usage(1)) + "data: {\"partial\":");
        assertTrue(relay.heldBytes() > 0);
        relay.release();
        assertEquals(0, relay.heldBytes());
        read("1}\n\n");
        assertEquals(chunk("a", ""), sentText());
    }

    @Test
    void releaseFreesTheTail() {
        start(true, true, 1 << 20);
        read(chunk("a", usage(1)) + DONE);
        relay.onEnd();
        assertTrue(relay.heldBytes() >= DONE.length());
        relay.release();
        assertEquals(0, relay.heldBytes());
    }
}
