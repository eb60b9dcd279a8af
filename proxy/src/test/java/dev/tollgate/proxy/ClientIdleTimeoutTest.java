package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.timeout.IdleStateEvent;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The client connection's idle timeout on the channel's own clock: nothing read and nothing written for the timeout
 * is idle; a read or a completed write restarts the clock; output that sits in the buffer without moving (a client
 * that stopped reading) does not, while output that moves does.
 */
class ClientIdleTimeoutTest {
    private static final long TIMEOUT_MS = 500;

    /** Counts the idle events that reach the end of the pipeline. */
    private static final class Events extends ChannelInboundHandlerAdapter {
        int idle;

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == IdleStateEvent.ALL_IDLE_STATE_EVENT) {
                idle++;
            }
        }
    }

    @Test
    void aConnectionWithNothingReadOrWrittenIsIdleAtTheTimeoutAndAgainEachTimeoutAfter() {
        Events events = new Events();
        EmbeddedChannel ch = channel(events);
        advance(ch, TIMEOUT_MS - 1);
        assertEquals(0, events.idle, "1 ms before the timeout");
        advance(ch, 1);
        assertEquals(1, events.idle, "at the timeout");
        advance(ch, TIMEOUT_MS);
        assertEquals(2, events.idle, "one timeout later, still idle");
        ch.finishAndReleaseAll();
    }

    @Test
    void readsAndCompletedWritesRestartTheClock() {
        Events events = new Events();
        EmbeddedChannel ch = channel(events);
        advance(ch, 300);
        ch.writeInbound(bytes("GET / HTTP/1.1\r\n\r\n"));
        advance(ch, 300); // t=600: 300 ms after the read
        assertEquals(0, events.idle);
        ch.writeAndFlush(bytes("HTTP/1.1 200 OK\r\n\r\n"), ch.voidPromise()); // a void promise stays void
        ByteBuf sent = ch.readOutbound();
        assertEquals("HTTP/1.1 200 OK\r\n\r\n", sent.toString(StandardCharsets.US_ASCII));
        sent.release();
        advance(ch, TIMEOUT_MS - 1); // t=1099: 499 ms after the write
        assertEquals(0, events.idle, "the completed write at t=600 counts");
        advance(ch, 1);
        assertEquals(1, events.idle, "idle one timeout after the write");
        ch.finishAndReleaseAll();
    }

    @Test
    void outputThatDoesNotMoveIsNotActivityButOutputThatMovesIs() {
        Events events = new Events();
        EmbeddedChannel ch = channel(events);
        // Output that keeps moving: each period more is queued (the buffer's pending bytes change).
        for (int i = 0; i < 6; i++) {
            ch.write(bytes("data: token\n\n"));
            advance(ch, TIMEOUT_MS / 2);
        }
        assertEquals(0, events.idle, "a client whose output moves is not idle");
        // Now nothing moves: what was written stays in the buffer, as for a client that stopped reading.
        advance(ch, TIMEOUT_MS);
        assertEquals(1, events.idle, "stuck output: idle one timeout after the timer last saw it move");
        assertTrue(ch.unsafe().outboundBuffer().totalPendingWriteBytes() > 0);
        ch.finishAndReleaseAll();
    }

    @Test
    void aClosedConnectionGetsNoEvent() {
        Events events = new Events();
        EmbeddedChannel ch = channel(events);
        ch.close();
        advance(ch, 3 * TIMEOUT_MS);
        assertEquals(0, events.idle);
        ch.finishAndReleaseAll();
    }

    private static EmbeddedChannel channel(Events events) {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.freezeTime();
        ch.pipeline().addLast(new ClientIdleTimeout(TIMEOUT_MS), events);
        return ch;
    }

    private static void advance(EmbeddedChannel ch, long millis) {
        ch.advanceTimeBy(millis, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
        ch.runPendingTasks();
    }

    private static ByteBuf bytes(String s) {
        return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
    }
}
