/** iSCSI URLs as libiscsi and qemu write them: iscsi://[user[%secret]@]host[:port][/target-iqn[/lun]] */
export interface IscsiUrl {
  host: string;
  port: number;
  targetName?: string;
  lun: number;
  user?: string;
  secret?: string;
}

export class UrlError extends Error {}

export function parseIscsiUrl(text: string): IscsiUrl {
  const m = /^iscsi:\/\/(?:([^%@/]+)(?:%([^@/]*))?@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?(?:\/([^/]*)(?:\/(\d+))?)?\/?$/.exec(text);
  if (!m) throw new UrlError(`bad iSCSI URL ${JSON.stringify(text)}: expected iscsi://[user%secret@]host[:port]/target-iqn/lun`);
  const port = m[4] ? Number(m[4]) : 3260;
  if (port > 65535) throw new UrlError(`bad port in ${text}`);
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new UrlError(`bad ${what} in the iSCSI URL: a % in it must start %XX percent-encoding`);
    }
  };
  return {
    user: m[1] ? decode(m[1], 'user') : undefined,
    secret: m[2] !== undefined ? decode(m[2], 'secret') : undefined,
    host: m[3]!.replace(/^\[|\]$/g, ''),
    port,
    targetName: m[5] ? decode(m[5], 'target name') : undefined,
    lun: m[6] ? Number(m[6]) : 0,
  };
}
