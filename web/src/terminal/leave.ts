// "Leave site?" is for leaving by accident (closing the tab, Ctrl+W typed for the
// shell): following one of the page's own links (the dashboard) or logging out is not
// an accident, and the session survives --detach-timeout anyway.

/** When (performance.now()) the user last followed one of our links; -Infinity: never. */
let ownNavigation = -Infinity;

/** Navigation begins at once; the margin covers a log out's POST before it. */
const WINDOW_MS = 3000;

export function watchOwnNavigation(): void {
  document.addEventListener('click', (e) => {
    // A new tab or window (modifier keys, target) leaves this page where it is.
    if (e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    const target = e.target instanceof Element ? e.target : null;
    const link = target?.closest<HTMLAnchorElement>('a[href]');
    const own = link
      ? (!link.target || link.target === '_self') && !link.hasAttribute('download') && link.origin === location.origin
      : !!target?.closest('button.logout');
    if (own) ownNavigation = performance.now();
  });
}

/** The page is being left through its own link or button, not closed. */
export function leavingOnPurpose(): boolean {
  return performance.now() - ownNavigation < WINDOW_MS;
}
