//! The interface the rest of signal-edge uses: append, read from a cursor, acknowledge,
//! dead-letter. [`Spool`] implements it on local disk; a distributed log can implement it too.

use crate::consumer::{Consumer, Receipt, Record, Start};
use crate::dead::{DeadLetterInfo, DeadLetterPage};
use crate::error::SpoolError;
use crate::spool::{Append, Spool};

/// A durable, ordered log of records.
pub trait EventLog: Send + Sync {
    /// A reader of this log.
    type Consumer: LogConsumer;

    /// Appends records as one group; resolves once they are durable.
    fn append(&self, records: Vec<Vec<u8>>) -> Append;

    /// The named consumer, created at `start` the first time.
    ///
    /// # Errors
    ///
    /// As the implementation says.
    fn consumer(&self, name: &str, start: Start) -> Result<Self::Consumer, SpoolError>;
}

/// One consumer's position in a log.
pub trait LogConsumer: Send {
    /// Up to `max` records not yet read.
    ///
    /// # Errors
    ///
    /// As the implementation says.
    fn read(&mut self, max: usize) -> Result<Vec<Record>, SpoolError>;

    /// Marks a record delivered.
    ///
    /// # Errors
    ///
    /// As the implementation says.
    fn ack(&self, receipt: Receipt) -> Result<(), SpoolError>;

    /// Gives up on a record, keeping it as a dead letter.
    ///
    /// # Errors
    ///
    /// As the implementation says.
    fn dead_letter(&self, record: &Record, info: DeadLetterInfo) -> Result<(), SpoolError>;

    /// Up to `limit` dead letters with ids after `after`, oldest first.
    ///
    /// # Errors
    ///
    /// As the implementation says.
    fn dead_letter_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<DeadLetterPage, SpoolError>;

    /// Replays dead letters (all, or these ids).
    ///
    /// # Errors
    ///
    /// As the implementation says.
    fn replay(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError>;

    /// Deletes dead letters (all, or these ids).
    ///
    /// # Errors
    ///
    /// As the implementation says.
    fn purge(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError>;
}

impl EventLog for Spool {
    type Consumer = Consumer;

    fn append(&self, records: Vec<Vec<u8>>) -> Append {
        Spool::append(self, records)
    }

    fn consumer(&self, name: &str, start: Start) -> Result<Consumer, SpoolError> {
        Spool::consumer(self, name, start)
    }
}

impl LogConsumer for Consumer {
    fn read(&mut self, max: usize) -> Result<Vec<Record>, SpoolError> {
        Consumer::read(self, max)
    }
    fn ack(&self, receipt: Receipt) -> Result<(), SpoolError> {
        Consumer::ack(self, receipt)
    }
    fn dead_letter(&self, record: &Record, info: DeadLetterInfo) -> Result<(), SpoolError> {
        Consumer::dead_letter(self, record, info)
    }
    fn dead_letter_page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<DeadLetterPage, SpoolError> {
        Consumer::dead_letters(self).page(after, limit)
    }
    fn replay(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        Consumer::replay(self, ids)
    }
    fn purge(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        Consumer::purge(self, ids)
    }
}
