package dev.tollgate.simulator;

/** A streamed answer being written on a connection. Threading: confined to the channel's event loop. */
interface SimulatedStream {
    /** The channel became writable again. */
    void onWritable();

    /** The connection closed: stop writing. */
    void cancel();
}
