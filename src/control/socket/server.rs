//! The socket listeners and their sessions: `;`-chained commands, `prompt` mode, limits.
