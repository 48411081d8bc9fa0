// The window title: `COMMAND (HOST)` as ttyd shows it until the program sets one (OSC 0/2),
// the session's name in front when it has one; `titleFixed` pins it.

/** The title for a session `name` (null: none), the terminal's `oscTitle` ('' until a
 * program sets one), its `command` line and the server's `host` ('' when unknown). */
export function title(name: string | null, oscTitle: string, command: string[], host: string): string {
  const line = command.join(' ');
  const own = oscTitle || (line ? (host ? `${line} (${host})` : line) : 'ringtty');
  return name ? (oscTitle ? `${name}: ${oscTitle}` : name) : own;
}

/** Keeps `document.title` in step with what `title()` is made of. */
export class Title {
  private name: string | null = null;
  private osc = '';
  private command: string[] = [];

  constructor(
    private readonly host: string,
    private readonly fixed: string | null,
  ) {
    this.update();
  }

  set(parts: { name?: string | null; osc?: string; command?: string[] }): void {
    if (parts.name !== undefined) this.name = parts.name || null;
    if (parts.osc !== undefined) this.osc = parts.osc;
    if (parts.command !== undefined) this.command = parts.command;
    this.update();
  }

  private update(): void {
    document.title = this.fixed ?? title(this.name, this.osc, this.command, this.host);
  }
}
