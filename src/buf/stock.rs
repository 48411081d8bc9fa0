//! A stock of free things kept for reuse, trimmed by use: what a whole interval between
//! two trims left untouched is handed back for freeing; the rest is the working set.
#![forbid(unsafe_code)]

/// Free items, least recently used first: [`Stock::take`] pops the back (memory still
/// warm in cache), [`Stock::trim`] releases from the front.
#[derive(Debug)]
pub struct Stock<T> {
    items: Vec<T>,
    /// The fewest items in stock since the last trim: the front `untouched` items have
    /// not been taken since then.
    untouched: usize,
}

impl<T> Default for Stock<T> {
    fn default() -> Self {
        Stock { items: Vec::new(), untouched: 0 }
    }
}

impl<T> Stock<T> {
    /// The most recently given item, if any.
    pub fn take(&mut self) -> Option<T> {
        let item = self.items.pop();
        self.untouched = self.untouched.min(self.items.len());
        item
    }

    pub fn give(&mut self, item: T) {
        self.items.push(item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items nothing has taken since the previous trim, for the caller to free (a
    /// busy owner keeps every item it cycled through; an idle one keeps none). The
    /// first trim after a burst only marks.
    pub fn trim(&mut self) -> std::vec::Drain<'_, T> {
        let unused = self.untouched;
        self.untouched = self.items.len() - unused;
        self.items.drain(..unused)
    }
}
