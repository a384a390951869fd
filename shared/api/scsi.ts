/**
 * SCSI commands besides READ/WRITE, issued by the lab's own initiator (server/gateway/scsi-routes.ts):
 * - GET /api/inquiry?lun=N -> InquiryData (standard INQUIRY data decoded, SPC-4 6.6.2)
 * - GET /api/inquiry?lun=N&page=P -> VpdPage (a VPD page as hex)
 * - GET /api/readcap?lun=N -> ReadCapacity (READ CAPACITY(16), SBC-3 5.16)
 */

export interface InquiryData {
  readonly lun: number;
  readonly peripheralDeviceType: number;
  readonly deviceType: string;
  readonly removable: boolean;
  readonly version: number;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly hex: string;
}

export interface VpdPage {
  readonly lun: number;
  readonly page: number;
  readonly length: number;
  readonly hex: string;
}

export interface ReadCapacity {
  readonly lun: number;
  readonly lastLba: number;
  readonly blocks: number;
  readonly blockSize: number;
  readonly thin: boolean;
}
