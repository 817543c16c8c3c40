"""The PDFs of a case (受理通知书, 营业执照, 印章凭证, EMS 详情单, 办结告知单), a shop's monthly subsidy
statement, and where they are kept (``$ODS_DATA_DIR/documents``)."""
