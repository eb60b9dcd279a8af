package dev.tollgate.metering;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs a body through a {@link StreamMeter} in given pieces, applying the meter's event actions the way the
 * proxy does, and keeps what a client would receive.
 */
final class MeterRun {
    final StreamMeter meter = new StreamMeter();
    final ByteArrayOutputStream delivered = new ByteArrayOutputStream();
    final List<StreamMeter.EventAction> actions = new ArrayList<>();
    final List<Long> eventEnds = new ArrayList<>();
    private byte[] all;
    private long forwardedUpTo;

    MeterRun(Route route, boolean wantsUsage, boolean wantsContinuous, boolean eventStream) {
        meter.reset(route, wantsUsage, wantsContinuous);
        meter.onResponseStart(200, eventStream, 0);
    }

    /** Feeds {@code body} cut at the given offsets (ascending), one nanosecond apart. */
    MeterRun feed(byte[] body, int... cuts) {
        all = body;
        int from = 0;
        long t = 1;
        for (int cut : cuts) {
            feedPiece(body, from, cut, t++);
            from = cut;
        }
        feedPiece(body, from, body.length, t);
        meter.onBodyEnd(t + 1);
        delivered.write(all, (int) forwardedUpTo, all.length - (int) forwardedUpTo);
        return this;
    }

    private void feedPiece(byte[] body, int from, int to, long t) {
        // Copy into a fresh array so that any view the meter keeps of it would be caught being stale.
        byte[] piece = java.util.Arrays.copyOfRange(body, from, to);
        meter.onBody(piece, 0, piece.length, t, (start, end, action, stripStart, stripEnd) -> {
            actions.add(action);
            eventEnds.add(end);
            delivered.write(all, (int) forwardedUpTo, (int) (start - forwardedUpTo));
            switch (action) {
                case FORWARD -> delivered.write(all, (int) start, (int) (end - start));
                case STRIP -> {
                    delivered.write(all, (int) start, (int) (stripStart - start));
                    delivered.write(all, (int) stripEnd, (int) (end - stripEnd));
                }
                default -> {
                }
            }
            forwardedUpTo = end;
        });
        java.util.Arrays.fill(piece, (byte) '#');
    }

    String deliveredText() {
        return delivered.toString(java.nio.charset.StandardCharsets.UTF_8);
    }
}
